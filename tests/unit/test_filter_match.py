"""Evaluating filters against canonical resources and against one value of a multi-valued attribute."""

from __future__ import annotations

import pytest

from scim_bridge.scim.filter import parse_filter, parse_path
from scim_bridge.scim.matching import matches
from scim_bridge.scim.schemas import ENTERPRISE_USER, GROUP, USER

BARBARA = {
    "id": "2819c223-7f76-453a-919d-413861904646",
    "externalId": "BJensen-42",
    "userName": "Barbara.Jensen@Example.com",
    "name": {"familyName": "Jensen", "givenName": "Barbara"},
    "displayName": "Babs Jensen",
    "title": "Tour Guide",
    "active": True,
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
    "groups": [{"value": "e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides"}],
    ENTERPRISE_USER: {"employeeNumber": "701984", "manager": {"value": "26118915-6090"}},
    "meta": {
        "resourceType": "User",
        "created": "2010-01-23T04:56:22Z",
        "lastModified": "2011-05-13T04:42:34+02:00",
        "version": 'W/"3"',
    },
}

CASES = [
    # caseExact=false attributes compare case-insensitively, caseExact=true ones exactly (RFC 7643 §2.3.1)
    ('userName eq "barbara.jensen@example.com"', True),
    ('userName eq "BARBARA.JENSEN@EXAMPLE.COM"', True),
    ('userName eq "barbara"', False),
    ('externalId eq "BJensen-42"', True),
    ('externalId eq "bjensen-42"', False),
    ('id eq "2819c223-7f76-453a-919d-413861904646"', True),
    ('id eq "2819C223-7F76-453A-919D-413861904646"', False),
    ('meta.version eq "W/\\"3\\""', True),
    ('meta.resourceType eq "User"', True),
    ('meta.resourceType eq "user"', False),
    # substring and ordering operators
    ('userName co "JENSEN@"', True),
    ('userName sw "barbara."', True),
    ('userName ew "@EXAMPLE.com"', True),
    ('userName ew "@example"', False),
    ('externalId co "jensen"', False),
    ('externalId sw "BJ"', True),
    ('title gt "tour"', True),
    ('title lt "TOUR GUIDE"', False),
    ('title le "TOUR GUIDE"', True),
    ('title ge "tour guide"', True),
    ('title ne "Tour Guide"', False),
    ('title ne "Chef"', True),
    # unassigned: ne and other comparisons find no value; pr is false; eq null is true
    ('nickName ne "x"', False),
    ('not (nickName eq "x")', True),
    ("nickName pr", False),
    ("nickName eq null", True),
    ("title eq null", False),
    ("title pr", True),
    ("name pr", True),
    ("emails pr", True),
    ("addresses pr", False),
    ("name.middleName pr", False),
    # booleans
    ("active eq true", True),
    ("active eq false", False),
    ("active ne false", True),
    ('active eq "TRUE"', True),
    # dateTime compared as instants whatever the offset
    ('meta.created eq "2010-01-23T04:56:22Z"', True),
    ('meta.created eq "2010-01-22T20:56:22-08:00"', True),
    ('meta.created eq "2010-01-23T04:56:22.000+00:00"', True),
    ('meta.lastModified gt "2011-05-13T02:42:33Z"', True),
    ('meta.lastModified gt "2011-05-13T02:42:34Z"', False),
    ('meta.lastModified ge "2011-05-13T02:42:34Z"', True),
    ('meta.lastModified lt "2011-05-13T04:00:00Z"', True),
    ("meta.created gt 2009-12-31", True),
    # multi-valued: any value matches (RFC 7644 §3.4.2.2)
    ('emails.value eq "babs@jensen.org"', True),
    ('emails eq "BABS@JENSEN.ORG"', True),
    ('emails.type eq "home"', True),
    ('emails.type ne "work"', True),
    ('phoneNumbers.type ne "work"', False),
    ('emails.value ew ".org" and emails.type eq "work"', True),
    # value paths: the same value must satisfy the whole bracket
    ('emails[type eq "work" and value ew ".org"]', False),
    ('emails[type eq "home" and value ew ".org"]', True),
    ('emails[type eq "work"].value eq "bjensen@example.com"', True),
    ('emails[type eq "work"].value eq "babs@jensen.org"', False),
    ('emails[TYPE eq "WORK" and primary eq true]', True),
    ('emails[primary eq true].value co "jensen.org"', False),
    ('emails[not (type eq "work")]', True),
    ('emails[primary pr]', True),
    ('phoneNumbers[primary pr]', False),
    ('emails[display pr]', False),
    ('name[givenName eq "barbara"]', True),
    ('groups[display eq "tour guides"]', True),
    ('groups.value eq "e9e30dba-f08f-4109-8486-d5c6a331660a"', True),
    ('groups.value eq "E9E30DBA-F08F-4109-8486-D5C6A331660A"', False),
    # extension attributes, qualified or not
    (f'{ENTERPRISE_USER}:employeeNumber eq "701984"', True),
    ("employeeNumber eq 701984", True),
    ('manager eq "26118915-6090"', True),
    (f'{ENTERPRISE_USER}:manager.value eq "other"', False),
    ("department pr", False),
    # logic
    ('userName eq "x" or title pr', True),
    ('userName eq "x" or title pr and nickName pr', False),
    ('(userName eq "x" or title pr) and not (nickName pr)', True),
    ('not (userName eq "x" or title pr)', False),
    # Entra's matching lookup
    ('id eq "2819c223-7f76-453a-919d-413861904646" and manager eq "26118915-6090"', True),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_matches_a_resource(text, expected):
    assert matches(parse_filter(text, USER), BARBARA, USER) is expected


@pytest.mark.parametrize(("value", "present"), [
    (None, False), ("", False), ([], False), ({}, False), ("x", True), (False, True), ([{"value": "a"}], True),
])
def test_pr_is_false_for_unassigned_values(value, present):
    """RFC 7643 §2.5: null, "" and [] are unassigned; a false boolean is a value."""
    resource = {"userName": "a", "title": value, "active": value, "emails": value}
    assert matches(parse_filter("title pr or active pr or emails pr", USER), resource, USER) is present


def test_client_spelled_keys_are_found():
    resource = {"USERNAME": "A", "Emails": [{"Value": "a@x.com", "TYPE": "work"}]}
    assert matches(parse_filter('userName eq "a" and emails[type eq "work"]', USER), resource, USER)


def test_values_of_the_wrong_type_do_not_match():
    resource = {"userName": "a", "active": "maybe", "title": {"nested": 1}, "meta": {"created": "not a date"}}
    for text in ("active eq true", "active eq false", 'title eq "x"', 'meta.created gt "2000-01-01T00:00:00Z"'):
        assert not matches(parse_filter(text, USER), resource, USER)


def test_group_members():
    group = {"displayName": "Tour Guides", "members": [{"value": "u1", "display": "a"}, {"value": "u2"}]}
    assert matches(parse_filter('members[value eq "u2"]', GROUP), group, GROUP)
    assert matches(parse_filter('members eq "u1" and displayName eq "TOUR GUIDES"', GROUP), group, GROUP)
    assert not matches(parse_filter('members.value eq "u3"', GROUP), group, GROUP)


@pytest.mark.parametrize(("path", "selected"), [
    ('emails[type eq "work"]', ["bjensen@example.com"]),
    ('emails[type eq "WORK" or value ew ".org"]', ["bjensen@example.com", "babs@jensen.org"]),
    ('emails[primary eq false]', []),
    ('emails[not (primary eq true)]', ["babs@jensen.org"]),
    ('emails[value sw "BABS"]', ["babs@jensen.org"]),
])
def test_patch_path_filters_select_values(path, selected):
    """PATCH evaluates a path's filter against each value of the attribute (RFC 7644 §3.5.2)."""
    value_filter = parse_path(path, USER).filter
    chosen = [e["value"] for e in BARBARA["emails"] if matches(value_filter, e, USER)]
    assert chosen == selected
