"""Canonical form of incoming resources: the IdPs' shapes absorbed, bad values refused clearly."""

import pytest

from scim_bridge.errors import InvalidSyntax, InvalidValue
from scim_bridge.scim.resources import coerce_members, parse_resource
from scim_bridge.scim.schemas import ENTERPRISE_USER, GROUP, USER

CASES = [
    pytest.param(
        {"userName": "a@x.com", "active": "True"},
        {"userName": "a@x.com", "active": True},
        id="string boolean (Microsoft test suite, Entra legacy)",
    ),
    pytest.param(
        {"USERNAME": "a@x.com", "Name": {"GIVENNAME": "Ann"}},
        {"userName": "a@x.com", "name": {"givenName": "Ann"}},
        id="attribute names case-insensitive (RFC 7643 §2.1)",
    ),
    pytest.param(
        {"schemas": ["urn:scim:schemas:core:1.0"], "userName": "a", "emails": {"value": "a@x", "type": "work",
                                                                              "primary": True}},
        {"userName": "a", "emails": [{"value": "a@x", "type": "work", "primary": True}]},
        id="OneLogin v1 template: emails as one object, SCIM 1.1 schema",
    ),
    pytest.param(
        {"userName": "a", "urn:scim:schemas:extension:enterprise:1.0": {"manager": {"managerId": "m1"}}},
        {"userName": "a", ENTERPRISE_USER: {"manager": {"value": "m1"}}},
        id="OneLogin v1 enterprise URN and managerId",
    ),
    pytest.param(
        {"userName": "a", "id": None, "meta": {"resourceType": "User"}, "groups": [], "roles": [],
         "title": None, "addresses": None, "adreses": [{"x": 1}]},
        {"userName": "a"},
        id="read-only, null, empty and misspelled attributes ignored",
    ),
    pytest.param(
        {"userName": "a", "name": {"givenName": "", "familyName": "B"}, "title": ""},
        {"userName": "a", "name": {"familyName": "B"}},
        id="OneLogin unfilled placeholders are unassigned",
    ),
    pytest.param(
        {"userName": "a", ENTERPRISE_USER: {"employeeNumber": 1234, "manager": [{"value": "m", "$ref": "u"}]}},
        {"userName": "a", ENTERPRISE_USER: {"employeeNumber": "1234", "manager": {"value": "m", "$ref": "u"}}},
        id="number for a string, manager as Entra's one-element array",
    ),
    pytest.param(
        {"userName": "a", "emails": [{"value": "1@x", "primary": True}, {"value": "2@x", "primary": "true"}]},
        {"userName": "a", "emails": [{"value": "1@x", "primary": True}, {"value": "2@x", "primary": False}]},
        id="at most one primary (RFC 7643 §2.4)",
    ),
]


@pytest.mark.parametrize(("body", "expected"), CASES)
def test_user_bodies_become_canonical(body, expected):
    assert parse_resource(USER, body).attributes == expected


def test_password_is_kept_apart_from_the_attributes():
    incoming = parse_resource(USER, {"userName": "a", "password": "s3cret!"})
    assert incoming.password == "s3cret!"
    assert "password" not in incoming.attributes


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        ([], InvalidSyntax, "JSON object"),
        ({"name": {"givenName": "x"}}, InvalidValue, '"userName" is required'),
        ({"userName": ""}, InvalidValue, '"userName" is required'),
        ({"userName": ["a"]}, InvalidValue, '"userName" must be a string, not an array'),
        ({"userName": "a", "active": "yes"}, InvalidValue, '"active" must be a boolean'),
        ({"userName": "a", "name": "Ann"}, InvalidValue, '"name" must be an object'),
        ({"userName": "a", "emails": [{"value": {"x": 1}}]}, InvalidValue, '"emails.value" must be a string'),
    ],
)
def test_bad_user_bodies_are_refused_with_the_attribute_named(body, error, words):
    with pytest.raises(error) as raised:
        parse_resource(USER, body)
    assert words in raised.value.detail


def test_group_members_keep_only_ids_and_type():
    incoming = parse_resource(GROUP, {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "displayName": "Eng", "externalId": "e1",
        "members": [{"value": "u1", "display": "ann"}, {"$ref": None, "value": "u2"}, "u3",
                    {"value": "u4", "displayName": "garbage", "type": "User"}],
    })
    assert incoming.attributes == {"displayName": "Eng", "externalId": "e1"}
    assert incoming.members == [{"value": "u1"}, {"value": "u2"}, {"value": "u3"}, {"value": "u4", "type": "User"}]


def test_group_without_members_key_leaves_members_unsaid():
    assert parse_resource(GROUP, {"displayName": "Eng"}).members is None


def test_member_without_value_is_refused():
    with pytest.raises(InvalidValue, match='needs a "value"'):
        coerce_members([{"display": "ann"}])
