"""Hostile and broken input against the live bridge: no answer is a 5xx, none hangs, every refusal is
a SCIM error with the RFC's scimType, and a refusal leaves the store exactly as it was.

Generated with hypothesis: request bodies, filters, PATCH operations, headers and query strings built
from the values that broke servers before (NUL bytes, unpaired surrogates, strings longer than the
columns, deep nesting, huge numbers, long filters), over real HTTP to the bridge on a loopback port,
on SQLite and PostgreSQL. The cases the issue found are explicit examples. The CI profile is
derandomised (tests/conftest.py); ``SCIM_BRIDGE_HYPOTHESIS_PROFILE=explore`` searches further.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scim_bridge import create_app
from scim_bridge.scim.limits import MAX_FILTER_TERMS, MAX_STRING_LENGTH
from scim_bridge.store.repository import Repository
from tests.support.bridge import serve
from tests.support.credentials import HOSTILE_TOKEN, TOKEN
from tests.support.idp_requests import CORE_USER, ERROR, PATCH_OP
from tests.support.store_digest import store_digest

# Every answer within this, or the request counts as hung (generous: a loaded 2-core machine).
ANSWER_SECONDS = 10
# RFC 7644 §3.12 table 9: the scimType values of a 400.
SCIM_TYPES_400 = {"invalidFilter", "tooMany", "uniqueness", "mutability", "invalidSyntax", "invalidPath",
                  "noTarget", "invalidValue", "invalidVers", "sensitive"}
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"

HYPOTHESIS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                              HealthCheck.too_slow, HealthCheck.data_too_large])


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # under /scim/v2, "{user}" and "{group}" standing for the seeded resources' ids
    query: dict | None = None
    headers: dict | None = None
    body: bytes | None = None


class LiveBridge:
    """The bridge on a loopback port over ``engine``, and the checks every answer must pass."""

    def __init__(self, base_url: str, engine, ids: dict, tally: Counter):
        self.base_url, self.engine, self.ids, self.tally = base_url, engine, ids, tally
        self.session = requests.Session()

    def send(self, call: Call) -> requests.Response:
        path = call.path.format(**self.ids)
        url = self.base_url + path
        if call.query:
            # Encoded by hand: a lone surrogate cannot be UTF-8, so it goes as the bytes a broken client sends.
            url += "?" + urlencode({raw(k): raw(v) for k, v in call.query.items()})
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json",
                   **(call.headers or {})}
        before = store_digest(self.engine)
        try:
            reply = self.session.request(call.method, url, data=call.body, headers=headers, timeout=ANSWER_SECONDS)
        except requests.Timeout:
            self.tally["hung"] += 1
            pytest.fail(f"no answer within {ANSWER_SECONDS} s to {call.method} {path}")
        self.tally["requests"] += 1
        status = reply.status_code
        assert status < 500, f"{call.method} {path} {call.query} {call.body!r:.300} -> {status} {reply.text[:300]}"
        if status >= 400:
            self.tally["refused"] += 1
            body = reply.json()
            assert body["schemas"] == [ERROR] and body["status"] == str(status), body
            assert isinstance(body["detail"], str) and body["detail"], body
            if status == 400:
                assert body.get("scimType") in SCIM_TYPES_400, body
            if status == 409:
                assert body.get("scimType") == "uniqueness", body
            assert store_digest(self.engine) == before, f"{call.method} {path}: refused ({status}), store changed"
        else:
            self.tally["accepted"] += 1
        return reply


@pytest.fixture(scope="module")
def tally(request):
    counts = Counter()
    yield counts
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # the report goes to the terminal, not to the capture
            reporter.write_line(f"\nhostile input: {counts['requests']} requests answered, {counts['refused']} "
                                f"refused, {counts['accepted']} accepted, {counts['hung']} hung")


@pytest.fixture
def bridge(engine, tally):
    config = {"auth": {"tokens": [{"name": "idp", "value": TOKEN}]}, "logging": {"level": "INFO"}}
    app = create_app(config, store=Repository(engine))
    with serve(app) as base_url:
        live = LiveBridge(base_url, engine, {}, tally)
        user = live.send(Call("POST", "/Users", body=json.dumps(
            {"userName": "seed@example.com", "emails": [{"value": "seed@example.com", "primary": True}]}).encode()))
        group = live.send(Call("POST", "/Groups", body=json.dumps(
            {"displayName": "Seeded", "members": [{"value": user.json()["id"]}]}).encode()))
        live.ids.update(user=user.json()["id"], group=group.json()["id"])
        yield live


# -- values that broke servers before ---------------------------------------------------------------

NASTY = ["\x00", "a\x00b", "\ud800", "\ud800x", "x\udfff", "\U0001f600", "\u202e\u0645", "%00", "\\", '"', "'",
         "' OR 1=1 --", "${jndi:ldap://127.0.0.1/x}", "\r\n", "\t", " ", "", "null", "true", "0", "-1", "W/\"1\"",
         "*", "urn:", "a" * (MAX_STRING_LENGTH + 1), "é" * 600, "x" * 5000]
characters = st.one_of(st.characters(), st.characters(categories=["Cs"]), st.sampled_from("\x00\"\\[]().:"))
text = st.one_of(st.sampled_from(NASTY), st.text(characters, max_size=24),
                 st.integers(MAX_STRING_LENGTH - 2, 3 * MAX_STRING_LENGTH).map(lambda n: "n" * n))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=False, allow_infinity=False), text)
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(text, inner, max_size=4)), max_leaves=10)
deep = st.integers(20, 3000).map(lambda n: "[" * n + "]" * n)

emails = st.lists(st.fixed_dictionaries({"value": text}, optional={"type": text, "primary": st.one_of(
    st.booleans(), text)}), max_size=3)
user_attributes = st.fixed_dictionaries(
    {"userName": st.one_of(text, st.emails())},
    optional={"schemas": st.one_of(st.just([CORE_USER]), json_values), "displayName": text, "externalId": text,
              "nickName": text, "active": st.one_of(st.booleans(), text), "emails": st.one_of(emails, json_values),
              "name": st.one_of(st.fixed_dictionaries({}, optional={"givenName": text, "familyName": text,
                                                                     "formatted": text}), json_values),
              "password": text, "groups": json_values, "id": json_values, "meta": json_values,
              ENTERPRISE: st.one_of(st.fixed_dictionaries({}, optional={"employeeNumber": text,
                                                                        "manager": json_values}), json_values)})
# Unknown attributes too, under any name.
users = st.builds(lambda known, unknown: {**unknown, **known}, user_attributes,
                  st.dictionaries(text, json_values, max_size=2))
groups = st.fixed_dictionaries(
    {"displayName": text},
    optional={"members": st.one_of(st.lists(st.fixed_dictionaries({"value": st.one_of(text, st.just("{user}"))},
                                                                  optional={"type": text}), max_size=3),
                                   json_values),
              "externalId": text})

ATTRIBUTES = ["userName", "displayName", "emails", "emails.value", 'emails[type eq "work"].value', "name.givenName",
              "active", "meta.lastModified", "meta.created", "externalId", "id", "members", "members.value", "groups",
              f"{ENTERPRISE}:employeeNumber", "manager", "title", "password", "nope", ""]
OPERATORS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "EQ", "xx", ""]
literals = st.one_of(text.map(json.dumps), st.sampled_from(["true", "null", "1", "1e400", "-0", "2024-01-31T12:00:00Z",
                                                            '"2024-13-45T99:00:00Z"', '"unterminated']), text)
terms = st.builds(lambda a, o, v: f"{a} {o} {v}", st.sampled_from(ATTRIBUTES), st.sampled_from(OPERATORS), literals)
filters = st.one_of(
    st.recursive(terms, lambda inner: st.one_of(
        st.builds(lambda a, j, b: f"{a} {j} {b}", inner, st.sampled_from(["and", "or", "AND", "nor"]), inner),
        inner.map(lambda f: f"({f})"), inner.map(lambda f: f"not ({f})"),
        st.builds(lambda a, f: f"{a}[{f}]", st.sampled_from(["emails", "members", "name", "userName"]), inner)),
        max_leaves=6),
    text,
    st.integers(MAX_FILTER_TERMS - 2, 1500).map(lambda n: " or ".join(f'userName eq "u{i}"' for i in range(n))),
    st.integers(50, 1500).map(lambda n: "(" * n + 'userName eq "a"' + ")" * n),
)
patch_paths = st.one_of(st.sampled_from(ATTRIBUTES), filters.map(lambda f: f"emails[{f}].value"),
                        filters.map(lambda f: f"members[{f}]"), text)
operations = st.lists(st.fixed_dictionaries(
    {"op": st.one_of(st.sampled_from(["add", "replace", "remove", "Add", "REPLACE"]), text)},
    optional={"path": patch_paths, "value": json_values}), max_size=4)
patch_bodies = st.one_of(
    st.builds(lambda ops: {"schemas": [PATCH_OP], "Operations": ops}, operations),
    st.fixed_dictionaries({}, optional={"schemas": json_values, "Operations": json_values}))
integers_as_text = st.one_of(st.integers(-(2**80), 2**80).map(str), text)
queries = st.builds(lambda known, unknown: {**unknown, **known}, st.fixed_dictionaries({}, optional={
    "filter": filters, "startIndex": integers_as_text, "count": integers_as_text, "sortBy": st.sampled_from(ATTRIBUTES),
    "sortOrder": text, "attributes": text, "excludedAttributes": text}), st.dictionaries(text, text, max_size=2))
# requests refuses a header value starting with whitespace, which \x85 and \xa0 are to Python.
header_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x7f\x85\xa0"),
                      max_size=60)
headers = st.fixed_dictionaries({}, optional={
    "If-Match": st.one_of(header_text, st.sampled_from(['W/"1"', '"1"', "*", 'W/"999"'])),
    "If-None-Match": st.one_of(header_text, st.sampled_from(['W/"1"', '"1"', "*"])),
    "Content-Type": st.one_of(header_text, st.sampled_from(["application/json", "text/plain",
                                                            "application/scim+json; charset=latin-1"])),
    "Accept": header_text,
    "Authorization": st.one_of(header_text, st.sampled_from([f"Bearer {HOSTILE_TOKEN}", "Bearer",
                                                             "Basic YWRtaW46YWRtaW4="])),
    "X-Request-Id": header_text})
item_paths = st.sampled_from(["/Users/{user}", "/Groups/{group}", "/users/{user}", "/Users/{user}/"])
resource_ids = st.text(st.characters(exclude_categories=["Cs"]), max_size=40).map(lambda s: quote(s, safe=""))


def raw(value) -> bytes:
    return str(value).encode("utf-8", "surrogatepass")


def encoded(body) -> bytes:
    return json.dumps(body).encode()  # ensure_ascii: a lone surrogate travels as its \\ud800 escape


# -- the properties ---------------------------------------------------------------------------------


@HYPOTHESIS
@given(path=st.sampled_from(["/Users", "/users", "/Users/", "/Users/{user}"]), user=users)
@example(path="/Users", user={"userName": "nul\x00name"})
@example(path="/Users", user={"userName": "ok@example.com", "displayName": "nul\x00display"})
@example(path="/Users", user={"userName": "u" * (MAX_STRING_LENGTH + 1)})
@example(path="/Users/{user}", user={"userName": "v" * 600})
@example(path="/Users", user={"userName": "\ud800x"})
def test_hostile_user_bodies(bridge, path, user):
    bridge.send(Call("PUT" if "{user}" in path else "POST", path, body=encoded(user)))


@HYPOTHESIS
@given(path=st.sampled_from(["/Groups", "/Groups/{group}"]), group=groups)
@example(path="/Groups", group={"displayName": "g\x00"})
@example(path="/Groups", group={"displayName": "g" * 513})
def test_hostile_group_bodies(bridge, path, group):
    bridge.send(Call("PUT" if "{group}" in path else "POST", path, body=encoded(group)))


@HYPOTHESIS
@given(path=st.sampled_from(["/Users", "/Groups", "/Users/.search", "/.search"]), body=st.one_of(
    st.binary(max_size=64), deep.map(str.encode), text.map(lambda t: t.encode("utf-8", "surrogatepass")),
    json_values.map(encoded)))
@example(path="/Users", body=('{"userName": "n", "x": ' + "[" * 1000 + "]" * 1000 + "}").encode())
@example(path="/Users", body=b'{"userName": "\\ud800x"}')
@example(path="/Users", body=b'{"userName": "nan", "nickName": NaN}')
@example(path="/Users", body=b'{"userName": "big", "nickName": ' + b"9" * 5000 + b"}")
def test_hostile_raw_bodies(bridge, path, body):
    bridge.send(Call("POST", path, body=body))


@HYPOTHESIS
@given(via=st.sampled_from(["query", "search"]), path=st.sampled_from(["/Users", "/Groups", "/users/"]),
       query=queries)
@example(via="query", path="/Users", query={"filter": 'userName eq "a\x00"'})
@example(via="search", path="/Users", query={"filter": 'displayName eq "a\x00"'})
@example(via="query", path="/Users", query={"startIndex": "9" * 30})
@example(via="search", path="/Users", query={"startIndex": 2**70})
@example(via="query", path="/Users", query={"filter": " or ".join(f'userName eq "u{i}"' for i in range(1000))})
@example(via="query", path="/Users", query={"filter": 'userName eq "\ud800"'})
def test_hostile_filters_and_queries(bridge, via, path, query):
    if via == "query":
        bridge.send(Call("GET", path, query=query))
    else:
        search = "/.search" if path == "/users/" else f"{path}/.search"
        bridge.send(Call("POST", search, body=encoded({"schemas": [SEARCH], **query})))


@HYPOTHESIS
@given(path=st.sampled_from(["/Users/{user}", "/Groups/{group}"]), body=patch_bodies)
@example(path="/Users/{user}", body={"schemas": [PATCH_OP], "Operations": [
    {"op": "replace", "path": "displayName", "value": "x\x00"}]})
@example(path="/Users/{user}", body={"schemas": [PATCH_OP], "Operations": [
    {"op": "replace", "value": {"userName": "w" * 700}}]})
@example(path="/Groups/{group}", body={"schemas": [PATCH_OP], "Operations": [
    {"op": "remove", "path": 'members[value eq "\x00"]'}]})
@example(path="/Users/{user}", body={"schemas": [PATCH_OP], "Operations": [
    {"op": "replace", "path": "emails[" + " or ".join(f'value eq "{i}"' for i in range(500)) + "].value",
     "value": "x"}]})
def test_hostile_patches(bridge, path, body):
    bridge.send(Call("PATCH", path, body=encoded(body)))


@HYPOTHESIS
@given(method=st.sampled_from(["GET", "PUT", "PATCH", "POST"]), path=st.one_of(item_paths,
       resource_ids.map(lambda i: f"/Users/{i}"), resource_ids.map(lambda i: f"/Groups/{i}")),
       headers=headers, body=st.one_of(st.none(), users.map(encoded)))
@example(method="GET", path="/Users/%00", headers={}, body=None)
@example(method="GET", path="/Users/{user}", headers={"If-None-Match": '"1"'}, body=None)
@example(method="PUT", path="/Users/{user}", headers={"Authorization": f"Bearer {HOSTILE_TOKEN}"},
         body=encoded({"userName": "intruder"}))
def test_hostile_headers_and_paths(bridge, method, path, headers, body):
    bridge.send(Call(method, path, headers=headers, body=body))
