"""SCIM filter and PATCH path parsing (RFC 7644 §3.4.2.2, §3.5.2) with the identity providers' forms."""

from __future__ import annotations

import json
import os
import urllib.parse
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from scim_bridge.errors import InvalidFilter, InvalidPath
from scim_bridge.scim.filter import parse_filter, parse_path
from scim_bridge.scim.schemas import ENTERPRISE_USER, GROUP, USER
from tests.support.filter_text import show

ENT = ENTERPRISE_USER


def reference_dir() -> Path:
    configured = os.environ.get("SCIM_BRIDGE_REFERENCE_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / ".." / "shared" / "reference"


GRAMMAR = [
    # every operator
    ('userName eq "bjensen"', "userName eq 'bjensen'"),
    ('title ne "Boss"', "title ne 'Boss'"),
    ('name.familyName co "O\'Malley"', "name.familyName co \"O'Malley\""),
    ('userName sw "J"', "userName sw 'J'"),
    ('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"', "userName sw 'J'"),
    ("title pr", "title pr"),
    ('meta.lastModified gt "2011-05-13T04:42:34Z"', "meta.lastModified gt 2011-05-13T04:42:34+00:00"),
    ('meta.lastModified ge "2011-05-13T04:42:34Z"', "meta.lastModified ge 2011-05-13T04:42:34+00:00"),
    ('meta.lastModified lt "2011-05-13T04:42:34Z"', "meta.lastModified lt 2011-05-13T04:42:34+00:00"),
    ('meta.lastModified le "2011-05-13T04:42:34Z"', "meta.lastModified le 2011-05-13T04:42:34+00:00"),
    ('emails.value ew "@example.com"', "emails.value ew '@example.com'"),
    # logic and precedence: not > and > or (RFC 7644 §3.4.2.2, table 4)
    ('title pr and userType eq "Employee"', "(title pr and userType eq 'Employee')"),
    ('title pr or userType eq "Intern"', "(title pr or userType eq 'Intern')"),
    ("title pr and nickName pr and locale pr", "(title pr and nickName pr and locale pr)"),
    ("title pr or nickName pr and locale pr", "(title pr or (nickName pr and locale pr))"),
    ("title pr and nickName pr or locale pr and timezone pr",
     "((title pr and nickName pr) or (locale pr and timezone pr))"),
    ("(title pr or nickName pr) and locale pr", "((title pr or nickName pr) and locale pr)"),
    ("not (title pr) and locale pr", "(not title pr and locale pr)"),
    ("not (title pr and locale pr)", "not (title pr and locale pr)"),
    ("not(title pr)", "not title pr"),
    ("not title pr and locale pr", "(not title pr and locale pr)"),
    ("((title pr))", "title pr"),
    ('userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
     "(userType eq 'Employee' and (emails.value co 'example.com' or emails.value co 'example.org'))"),
    ('userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
     "(userType ne 'Employee' and not (emails.value co 'example.com' or emails.value co 'example.org'))"),
    # value paths
    ('emails[type eq "work" and value co "@example.com"]', "emails[(type eq 'work' and value co '@example.com')]"),
    ('emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
     "(emails[(type eq 'work' and value co '@example.com')] or ims[(type eq 'xmpp' and value co '@foo.com')])"),
    ('emails[not (type eq "home")]', "emails[not type eq 'home']"),
    ('emails[type eq "work"].value eq "a@x.com"', "emails[(type eq 'work' and value eq 'a@x.com')]"),
    ('emails[type eq "work" or primary eq true].value co "@x"',
     "emails[((type eq 'work' or primary eq True) and value co '@x')]"),
    ('emails[type eq "work"].value pr', "emails[(type eq 'work' and value pr)]"),
    ('name[givenName eq "Ann"]', "name[givenName eq 'Ann']"),
    # extension attributes, qualified and not (Entra's manager), SCIM 1.1 URNs (OneLogin)
    (f'{ENT}:employeeNumber eq "701984"', f"{ENT}:employeeNumber eq '701984'"),
    (f'{ENT}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"',
     f"{ENT}:manager.value eq '26118915-6090-4610-87e4-49d8ca9f808d'"),
    (f'{ENT}:manager eq "m1"', f"{ENT}:manager.value eq 'm1'"),
    ('manager eq "m1"', f"{ENT}:manager.value eq 'm1'"),
    ('department eq "Sales"', f"{ENT}:department eq 'Sales'"),
    ('urn:scim:schemas:extension:enterprise:1.0:department eq "Sales"', f"{ENT}:department eq 'Sales'"),
    ('urn:scim:schemas:core:1.0:userName eq "a"', "userName eq 'a'"),
    # case-insensitive names and operators (RFC 7643 §2.1, RFC 7644 §3.4.2.2)
    ('USERNAME EQ "Bob"', "userName eq 'Bob'"),
    ('Name.FamilyName Co "x" AnD TITLE Pr oR NOT (Active Eq FALSE)',
     "((name.familyName co 'x' and title pr) or not active eq False)"),
    ('EMAILS[TYPE EQ "work"].VALUE EQ "a"', "emails[(type eq 'work' and value eq 'a')]"),
    (f'{ENT.upper()}:EMPLOYEENUMBER eq "1"', f"{ENT}:employeeNumber eq '1'"),
    # JSON literals
    (r'title eq "say \"hi\"\\ \u00e9\n"', "title eq 'say \"hi\"\\\\ é\\n'"),
    ('title eq ""', "title eq ''"),
    ("active eq true", "active eq True"),
    ("active eq false", "active eq False"),
    ('active eq "True"', "active eq True"),
    ("title eq null", "not title pr"),
    ("title ne null", "title pr"),
    ("emails eq null", "not emails.value pr"),
    # numbers given for string attributes keep their text; a leading zero is not a JSON number
    (f"{ENT}:employeeNumber eq 1234", f"{ENT}:employeeNumber eq '1234'"),
    ("externalId eq 00123", "externalId eq '00123'"),
    ("externalId eq -1.5e3", "externalId eq '-1.5e3'"),
    ("title eq true", "title eq 'true'"),
    # unquoted strings (Entra), spacing
    ("externalId eq jyoung", "externalId eq 'jyoung'"),
    ("(externalId eq jyoung)", "externalId eq 'jyoung'"),
    ('  userName   eq\t"a"  ', "userName eq 'a'"),
    ('userName eq"a"', "userName eq 'a'"),
    ('emails[type eq work].value eq a@x.com', "emails[(type eq 'work' and value eq 'a@x.com')]"),
    # dates: offsets, 7 fraction digits (.NET), no offset means UTC, date only
    ("meta.created gt 2015-10-10T14:38:21.8617979-07:00", "meta.created gt 2015-10-10T14:38:21.861797-07:00"),
    ('meta.created ge "2024-02-01T10:00:00"', "meta.created ge 2024-02-01T10:00:00+00:00"),
    ('meta.created lt "2024-02-01"', "meta.created lt 2024-02-01T00:00:00+00:00"),
    ('meta.version eq "W/\\"3\\""', "meta.version eq 'W/\"3\"'"),
]


@pytest.mark.parametrize(("text", "expected"), GRAMMAR, ids=[c[0] for c in GRAMMAR])
def test_grammar(text, expected):
    assert show(parse_filter(text, USER)) == expected


GROUP_FILTERS = [
    ('displayName eq "Sales Reps"', "displayName eq 'Sales Reps'"),
    ('DisplayName eq "Sales Reps"', "displayName eq 'Sales Reps'"),
    ('members.value eq "u1"', "members.value eq 'u1'"),
    ('members eq "u1"', "members.value eq 'u1'"),
    ('members[value eq "u1"]', "members[value eq 'u1']"),
    ('id eq "g1" and members[value eq "u1"]', "(id eq 'g1' and members[value eq 'u1'])"),
    ('externalId eq "0042"', "externalId eq '0042'"),
]


@pytest.mark.parametrize(("text", "expected"), GROUP_FILTERS, ids=[c[0] for c in GROUP_FILTERS])
def test_group_filters(text, expected):
    assert show(parse_filter(text, GROUP)) == expected


IDP_FILTERS = [
    # docs/identity-providers.md §5.1
    ('userName eq "Test_User_dfeef4c5-5681-4387-b016-bdf221e82081"', USER,
     "userName eq 'Test_User_dfeef4c5-5681-4387-b016-bdf221e82081'"),
    ('userName eq "ALICE@EXAMPLE.COM"', USER, "userName eq 'ALICE@EXAMPLE.COM'"),
    ('externalId eq "alice"', USER, "externalId eq 'alice'"),
    ('emails[type eq "work"].value eq "alice@example.com"', USER,
     "emails[(type eq 'work' and value eq 'alice@example.com')]"),
    ('displayName eq "Engineering"', GROUP, "displayName eq 'Engineering'"),
    ('id eq "u1" and manager eq "m1"', USER, f"(id eq 'u1' and {ENT}:manager.value eq 'm1')"),
    # Microsoft's SCIM test collection
    ("name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)", USER,
     "(name.familyName eq 'Employee' and (emails.value co 'example.com' or emails.value co 'example.org'))"),
    ("userName sw O", USER, "userName sw 'O'"),
    ('DisplayName eq "BobIsAmazing"', USER, "displayName eq 'BobIsAmazing'"),
]


@pytest.mark.parametrize(("text", "rtype", "expected"), IDP_FILTERS, ids=[c[0] for c in IDP_FILTERS])
def test_identity_provider_filters(text, rtype, expected):
    assert show(parse_filter(text, rtype)) == expected


def _postman_filters() -> list[str]:
    path = reference_dir() / "idp-test-suites" / "PostmanCollection.json"
    if not path.is_file():
        pytest.skip(f"Microsoft's Postman collection is not at {path} (set SCIM_BRIDGE_REFERENCE_DIR)")
    found: list[str] = []

    def walk(item):
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "raw" and isinstance(value, str) and "filter=" in value:
                    query = value.split("?", 1)[1]
                    found.extend(urllib.parse.parse_qs(query).get("filter", []))
                walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)

    walk(json.loads(path.read_text(encoding="utf-8")))
    return sorted(set(found))


def test_every_filter_of_microsofts_test_collection_parses():
    filters = _postman_filters()
    assert {show(parse_filter(text, USER)) for text in filters} == {
        "displayName eq 'BobIsAmazing'",
        "meta.created gt 2015-10-10T14:38:21.861797-07:00",
        "(name.familyName eq 'Employee' and (emails.value co 'example.com' or emails.value co 'example.org'))",
        "userName sw 'O'",
    }


def test_value_filter_paths_are_relative_to_the_element():
    node = parse_filter('emails[type eq "work"]', USER)
    assert node.path.dotted == "emails" and node.path.sub_attribute is None
    assert node.filter.path.urn is None
    assert node.filter.path.attribute is USER.schema.attribute("emails").sub("type")


def test_values_take_the_attribute_type():
    created = parse_filter('meta.created gt "2015-10-10T14:38:21-07:00"', USER)
    assert created.value == datetime(2015, 10, 10, 21, 38, 21, tzinfo=UTC)
    assert created.value.utcoffset() == timedelta(hours=-7)
    assert created.value.tzinfo == timezone(timedelta(hours=-7))
    assert parse_filter("active eq TRUE", USER).value is True
    assert parse_filter('emails[primary eq "false"]', USER).filter.value is False


ERRORS = [
    ("", "The filter is empty"),
    ("   ", "The filter is empty"),
    ('fooBar eq "x"', 'unknown attribute "fooBar" for a User at position 1'),
    ('userName eq "x" and fooBar eq "y"', 'unknown attribute "fooBar" for a User at position 21'),
    ('name.nickName eq "x"', '"name" has no sub-attribute "nickName" at position 1'),
    ('emails[kind eq "work"]', '"emails" has no sub-attribute "kind" at position 8; expected one of value, display'),
    ('emails[type eq "work"].kind eq "x"', '"emails" has no sub-attribute "kind" at position 24'),
    ("userName eq", 'expected a value after "eq" at the end'),
    ("userName eq )", 'expected a value after "eq" at position 13'),
    ("userName", 'expected an operator after "userName" at the end; expected one of eq, ne'),
    ('userName equals "x"', 'unknown operator "equals" after "userName" at position 10'),
    ('userName = "x"', 'expected an operator after "userName" at position 10'),
    ('userName eq "x', 'unterminated string (a closing " is missing) starting at position 13'),
    (r'userName eq "\q"', "invalid escape sequence in the string starting at position 13"),
    ('(userName eq "x"', 'the "(" at position 1 is never closed: add ")"'),
    ('userName eq "x")', 'unbalanced ")" at position 16'),
    ('userName eq "x" title pr', 'unexpected "title" at position 17; expected "and", "or" or the end of the filter'),
    ("displayName eq Bob Smith", 'unexpected "Smith" at position 20; expected "and", "or" or the end of the filter '
                                 "(quote values that contain spaces)"),
    ('userName eq "x" and', 'expected an expression after "and" at the end'),
    ('userName eq "x" or', 'expected an expression after "or" at the end'),
    ("not", 'expected an expression after "not" at the end'),
    ('userName eq "x" and or title pr', 'unexpected "or" at position 21; expected an attribute name after "and"'),
    ("()", 'unexpected ")" at position 2; expected an attribute name after "("'),
    ('emails[type eq "work"', 'the "[" at position 7 is never closed: add "]"'),
    ('emails[type eq "work" title pr]', 'unexpected "title" at position 23; expected "and", "or" or "]" closing'),
    ('emails[value[type eq "x"]]', "value filters cannot be nested at position 13"),
    ('userName[value eq "x"]', '"userName" is not a complex attribute, so it takes no [filter] at position 9'),
    ('name eq "x"', '"name" is complex and cannot be compared as a whole at position 6; expected one of its'),
    ("active gt true", '"gt" cannot compare the boolean "active" at position 11; expected eq or ne'),
    ('active co "t"', '"co" cannot compare the boolean "active"'),
    ("active eq 1", 'cannot compare the boolean "active" with 1 at position 11; expected true or false'),
    ('meta.created co "2024"', '"co" cannot compare the dateTime "meta.created"'),
    ("meta.created gt yesterday", 'cannot compare the dateTime "meta.created" with yesterday at position 17'),
    ('x509Certificates.value gt "MII"', '"gt" cannot compare the binary "x509Certificates.value"'),
    ("title gt null", '"gt" cannot compare with null at position 10; expected "title pr" or "not (title pr)"'),
    ('password eq "secret"', '"password" is write-only and cannot be used in a filter at position 1'),
    ('userName eq "x" andtitle pr', 'unexpected "andtitle" at position 17'),
    ("(" * 70 + "title pr" + ")" * 70, '"(" and "not" nested more than 64 deep'),
    ("not " * 70 + "title pr", '"(" and "not" nested more than 64 deep'),
    ("not (" * 70 + "title pr" + ")" * 70, '"(" and "not" nested more than 64 deep'),
    (r'userName eq "a\u0000b"', r"a NUL character (\u0000) cannot appear in a value at position 13"),
]


@pytest.mark.parametrize(("text", "detail"), ERRORS, ids=[c[0][:40] for c in ERRORS])
def test_errors_say_what_and_where(text, detail):
    with pytest.raises(InvalidFilter) as caught:
        parse_filter(text, USER)
    assert detail in caught.value.detail
    assert caught.value.scim_type == "invalidFilter"


def test_unknown_group_attribute_names_the_resource_type():
    with pytest.raises(InvalidFilter, match='unknown attribute "userName" for a Group at position 1'):
        parse_filter('userName eq "x"', GROUP)


@pytest.mark.parametrize("text", [
    'emails[type eq "work" and value co "@example.com"] or (userName sw "a\\"b" and not (title pr))',
    f'{ENT}:manager.value eq "m" and meta.created ge "2024-01-01T00:00:00Z" or active eq true',
])
def test_every_truncation_fails_cleanly(text):
    """Whatever a client cuts off, the answer is an InvalidFilter naming a place, never another error."""
    for end in range(len(text)):
        try:
            parse_filter(text[:end], USER)
        except InvalidFilter as exc:
            assert "position" in exc.detail or "empty" in exc.detail or "at the end" in exc.detail
            assert "Traceback" not in exc.detail


PATHS = [
    ("members", GROUP, "members", None, None),
    ("MEMBERS", GROUP, "members", None, None),
    ('members[value eq "2819c223"]', GROUP, "members", "value eq '2819c223'", None),
    ("name.givenName", USER, "name", None, "givenName"),
    ("name.FAMILYNAME", USER, "name", None, "familyName"),
    ("userName", USER, "userName", None, None),
    ("emails.value", USER, "emails", None, "value"),
    ('emails[type eq "work"]', USER, "emails", "type eq 'work'", None),
    ('emails[type eq "work"].value', USER, "emails", "type eq 'work'", "value"),
    ('addresses[type eq "work"].streetAddress', USER, "addresses", "type eq 'work'", "streetAddress"),
    ('emails[type eq "work" and primary eq true].value', USER, "emails", "(type eq 'work' and primary eq True)",
     "value"),
    (f"{ENT}:manager", USER, f"{ENT}:manager", None, None),
    (f"{ENT}:manager.value", USER, f"{ENT}:manager", None, "value"),
    (f"{ENT}:employeeNumber", USER, f"{ENT}:employeeNumber", None, None),
    ("manager", USER, f"{ENT}:manager", None, None),
    ("urn:scim:schemas:extension:enterprise:1.0:department", USER, f"{ENT}:department", None, None),
    ("urn:ietf:params:scim:schemas:core:2.0:User:displayName", USER, "displayName", None, None),
    ("password", USER, "password", None, None),
]


@pytest.mark.parametrize(("text", "rtype", "attribute", "value_filter", "sub"), PATHS, ids=[c[0] for c in PATHS])
def test_patch_paths(text, rtype, attribute, value_filter, sub):
    path = parse_path(text, rtype)
    assert path.attribute.dotted == attribute
    assert path.attribute.sub_attribute is None
    assert (show(path.filter) if path.filter is not None else None) == value_filter
    assert (path.sub_attribute.name if path.sub_attribute else None) == sub


def test_patch_path_target_joins_attribute_and_sub_attribute():
    assert parse_path('emails[type eq "work"].value', USER).target.dotted == "emails.value"
    assert parse_path("name.givenName", USER).target.dotted == "name.givenName"


PATH_ERRORS = [
    ("", InvalidPath, 'expected an attribute name such as "members" or "name.givenName" at the end'),
    ("nickname2", InvalidPath, 'unknown attribute "nickname2" for a User at position 1'),
    ("name.nickName", InvalidPath, '"name" has no sub-attribute "nickName" at position 1'),
    ('name[givenName eq "x"]', InvalidPath, '"name" is not a multi-valued attribute, so it takes no [filter]'),
    ('userName[value eq "x"]', InvalidPath, '"userName" is not a multi-valued attribute'),
    ('emails.value[type eq "x"]', InvalidPath, '"emails.value" is not a multi-valued attribute'),
    ('emails[type eq "work"].kind', InvalidPath, '"emails" has no sub-attribute "kind" at position 24'),
    ('emails[type eq "work"] x', InvalidPath, 'unexpected "x" at position 24; expected the end of the path'),
    ("emails value", InvalidPath, 'unexpected "value" at position 8; expected the end of the path'),
    ('emails[type eq "work"', InvalidFilter, 'the "[" at position 7 is never closed: add "]"'),
    ("emails[type eq]", InvalidFilter, 'expected a value after "eq" at position 15'),
    ('emails[kind eq "work"]', InvalidFilter, '"emails" has no sub-attribute "kind" at position 8'),
    ('members[value eq "x"]', InvalidPath, 'unknown attribute "members" for a User'),
]


@pytest.mark.parametrize(("text", "error", "detail"), PATH_ERRORS, ids=[c[0] for c in PATH_ERRORS])
def test_patch_path_errors(text, error, detail):
    with pytest.raises(error) as caught:
        parse_path(text, USER)
    assert type(caught.value) is error
    assert detail in caught.value.detail


@pytest.mark.parametrize("text", [
    'userName eq "bjensen@example.com"', '  userName   EQ"Bjensen"  ', 'externalId eq ""', 'USERNAME eq "x"',
    'urn:ietf:params:scim:schemas:core:2.0:User:userName eq "j"', 'emails eq "a@b.c"', 'emails.value eq "a@b.c"',
    'name.familyName eq "O\'Malley"', 'manager eq "26118915-6090-4610-87e4-49d8ca9f808d"', 'id eq "x y"',
    'active eq "true"', 'meta.lastModified eq "2011-05-13T04:42:34Z"', 'not eq "x"', 'and eq "x"',
    'password eq "secret"', 'nosuch eq "x"', 'name eq "x"', 'userName eq "tab\there"', 'userName eq "nul\x00"',
    'userName eq "\ud800"', 'userName eq "a\\"b"', 'userName eq "a\\u0041"',
])
def test_equality_fast_path_parses_as_the_general_parser(text):
    """The common ``attr eq "value"`` is answered without the general parser: same node, same refusal."""
    from scim_bridge.scim.filter import _parse_filter

    for rtype in (USER, GROUP):
        try:
            expected = _parse_filter(text, rtype)
        except InvalidFilter as refused:
            with pytest.raises(InvalidFilter) as caught:
                parse_filter(text, rtype)
            assert caught.value.detail == refused.detail
        else:
            assert parse_filter(text, rtype) == expected
