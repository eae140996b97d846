"""Provisioning status through SCIM: each target's state of a user or group in the bridge's own
extension (docs/provisioning-status.md), returned only when a client asks for it and searchable.

The worker does not run: ``drain()`` delivers what is due, so which user is linked, pending, parked
or skipped on each target is decided by the test, not by how threads interleave.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import event

from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE_GROUPS, PRODUCTS, WITH_CROWD
from tests.support.idp_requests import CORE_GROUP, CORE_USER

USER_EXT = "urn:scim-bridge:params:scim:schemas:extension:provisioning:2.0:User"
GROUP_EXT = "urn:scim-bridge:params:scim:schemas:extension:provisioning:2.0:Group"
JIRA_REFUSAL = ("target 'jira': Jira refused POST /rest/api/2/user (HTTP 400) (the product said: "
                "The server answered 400 (fault injected by the fake))")
JIRA_GROUP_REFUSAL = ("target 'jira': Jira refused POST /rest/api/2/group (HTTP 400) (the product said: "
                      "The server answered 400 (fault injected by the fake))")
INACTIVE = "dave is inactive and has no account on the target: not created"


def everywhere(state: str, name: str, key: str = "userName", **more) -> list[dict]:
    return [{"name": p, "state": state, key: name, **more} for p in PRODUCTS]


def statuses(idp, path: str, urn: str) -> list[dict]:
    body = idp.ok(idp.get(f"{path}?attributes={urn}"), 200)
    assert urn in body["schemas"]
    return body[urn]["targets"]


def found(idp, endpoint: str, text: str) -> set[str]:
    return set(idp.found(f"{endpoint}?filter={quote(text)}"))


@pytest.fixture
def users(start):
    """alice linked everywhere, bob parked on Jira (refused), dave skipped (inactive), carol pending."""
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False)
    idp = bridge.idp
    alice = idp.create_user("alice@example.com", "Alice Smith")
    bridge.drain()
    bridge.jira.knobs.force_error("POST", "/rest/api/2/user", 400, count=1)
    bob = idp.create_user("bob@example.com", "Bob Jones")
    dave = idp.ok(idp.post("/Users", {"schemas": [CORE_USER], "userName": "dave@example.com", "active": False}),
                  201)["id"]
    bridge.drain()
    carol = idp.create_user("carol@example.com", "Carol King")
    return bridge, {"alice": alice, "bob": bob, "carol": carol, "dave": dave}


def test_a_plain_read_carries_no_provisioning_state(users):
    bridge, ids = users
    idp = bridge.idp
    for query in ("", "?excludedAttributes=emails", "?excludedAttributes=members", "?attributes=userName"):
        single = idp.ok(idp.get(f"/Users/{ids['bob']}{query}"), 200)
        listed = idp.ok(idp.get(f"/Users{query}"), 200)["Resources"]
        for resource in (single, *listed):
            assert USER_EXT not in resource and USER_EXT not in resource["schemas"], (query, resource)
    searched = idp.ok(idp.post("/Users/.search", {"excludedAttributes": ["emails"]}), 200)["Resources"]
    assert all(USER_EXT not in r for r in searched)


def test_a_plain_read_does_not_query_the_link_or_outbox_rows(users):
    bridge, ids = users
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(bridge.engine, "before_cursor_execute", record)
    try:
        bridge.idp.get(f"/Users/{ids['bob']}")
        bridge.idp.get("/Users?excludedAttributes=groups")
        plain = [s for s in statements if "links" in s or "outbox" in s]
        statements.clear()
        bridge.idp.get(f"/Users?attributes={USER_EXT}")
        asked = [s for s in statements if "links" in s or "outbox" in s]
    finally:
        event.remove(bridge.engine, "before_cursor_execute", record)
    assert plain == [] and len(asked) == 1  # one query for the page


def test_asked_for_it_gives_each_targets_state_username_and_the_products_words(users):
    bridge, ids = users
    idp = bridge.idp
    assert statuses(idp, f"/Users/{ids['alice']}", USER_EXT) == everywhere("linked", "alice")
    assert statuses(idp, f"/Users/{ids['bob']}", USER_EXT) == [
        {"name": "jira", "state": "parked", "userName": "bob", "lastError": JIRA_REFUSAL},
        {"name": "confluence", "state": "linked", "userName": "bob"},
        {"name": "bitbucket", "state": "linked", "userName": "bob"},
    ]
    assert statuses(idp, f"/Users/{ids['carol']}", USER_EXT) == everywhere("pending", "carol")
    assert statuses(idp, f"/Users/{ids['dave']}", USER_EXT) == everywhere("skipped", "dave", reason=INACTIVE)

    # A sub-attribute, alongside core attributes, on a list: only what was asked for.
    body = idp.ok(idp.get(f"/Users?attributes=userName,{USER_EXT}:targets.state&sortBy=userName"), 200)
    assert [(r["userName"], [t["state"] for t in r[USER_EXT]["targets"]], sorted(r)) for r in body["Resources"]] == [
        ("alice@example.com", ["linked"] * 3, sorted(["schemas", "id", "userName", USER_EXT])),
        ("bob@example.com", ["parked", "linked", "linked"], sorted(["schemas", "id", "userName", USER_EXT])),
        ("carol@example.com", ["pending"] * 3, sorted(["schemas", "id", "userName", USER_EXT])),
        ("dave@example.com", ["skipped"] * 3, sorted(["schemas", "id", "userName", USER_EXT])),
    ]
    searched = idp.ok(idp.post("/Users/.search", {"attributes": [USER_EXT], "filter": 'userName sw "bob"'}), 200)
    assert searched["Resources"][0][USER_EXT]["targets"][0]["state"] == "parked"

    # Once the product accepts, the state follows.
    bridge.drain()
    assert bridge.jira.user("carol") is not None
    assert statuses(idp, f"/Users/{ids['carol']}", USER_EXT) == everywhere("linked", "carol")


def test_a_filter_on_it_finds_exactly_the_users_in_that_state(users):
    bridge, ids = users
    idp = bridge.idp
    by_id = {v: k for k, v in ids.items()}

    def names(text: str) -> set[str]:
        return {by_id[i] for i in found(idp, "/Users", text)}

    assert names(f'{USER_EXT}:targets[name eq "jira" and state eq "parked"]') == {"bob"}
    assert names(f'{USER_EXT}:targets[name eq "confluence" and state eq "parked"]') == set()
    assert names(f'{USER_EXT}:targets[state eq "pending"]') == {"carol"}
    assert names(f'{USER_EXT}:targets.state eq "skipped"') == {"dave"}
    assert names(f'{USER_EXT}:targets[lastError co "fault injected"]') == {"bob"}
    assert names(f'{USER_EXT}:targets[userName eq "ALICE"]') == {"alice"}  # caseExact false
    assert names(f'not ({USER_EXT}:targets[state ne "linked"])') == {"alice"}
    assert names(f'userName sw "b" and {USER_EXT}:targets[state eq "parked"] or userName eq "carol@example.com"') \
        == {"bob", "carol"}
    assert names(f'{USER_EXT}:targets pr') == set(ids)
    listed = idp.ok(idp.get("/Users?count=1&filter=" + quote(f'{USER_EXT}:targets[state eq "linked"]')), 200)
    assert (listed["totalResults"], listed["itemsPerPage"]) == (2, 1)  # alice, and bob's other targets
    # A sortBy on it is ignored, as any attribute there is nothing to sort by.
    assert idp.ok(idp.get(f"/Users?sortBy={USER_EXT}:targets.state"), 200)["totalResults"] == 4


def test_a_write_carrying_it_succeeds_and_changes_nothing(users):
    """readOnly: ignored on input (RFC 7643 §2.2), in a POST, a PUT and a pathless PATCH."""
    bridge, ids = users
    idp = bridge.idp
    forged = {"targets": [{"name": "jira", "state": "linked", "userName": "root"}]}
    created = idp.ok(idp.post(f"/Users?attributes=userName,{USER_EXT}", {
        "schemas": [CORE_USER, USER_EXT], "userName": "erin@example.com", USER_EXT: forged}), 201)
    assert created[USER_EXT]["targets"] == everywhere("pending", "erin")
    assert USER_EXT not in idp.ok(idp.get(f"/Users/{created['id']}"), 200)["schemas"]
    idp.ok(idp.put(f"/Users/{ids['bob']}", {"schemas": [CORE_USER, USER_EXT], "userName": "bob@example.com",
                                             "displayName": "Bob Jones", "emails": [{"value": "bob@example.com"}],
                                             USER_EXT: forged}), 200)
    idp.ok(idp.patch(f"/Users/{ids['alice']}", [{"op": "replace", "value": {USER_EXT: forged,
                                                                           "displayName": "Alice S."}}]), 200)
    idp.ok(idp.patch(f"/Users/{ids['alice']}", [{"op": "add", "path": USER_EXT, "value": forged}]), 200)
    # A path naming the read-only attribute itself is refused, as for any (RFC 7644 §3.5.2).
    refused = idp.patch(f"/Users/{ids['alice']}", [{"op": "replace", "path": f"{USER_EXT}:targets",
                                                    "value": forged["targets"]}])
    assert (refused.status, refused.body["scimType"]) == (400, "mutability")
    bridge.drain()
    assert statuses(idp, f"/Users/{ids['bob']}", USER_EXT)[0]["state"] == "linked"  # the PUT queued bob again
    assert bridge.jira.user("alice").display_name == "Alice S."
    assert bridge.jira.user("root") is None


def test_a_target_with_nothing_for_a_user_says_unlinked(engine, start):
    """A target added after the user was provisioned holds nothing for it until it is delivered there."""
    first = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False)
    alice = first.idp.create_user("alice@example.com", "Alice Smith")
    first.drain()
    second = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False, products=WITH_CROWD)
    assert statuses(second.idp, f"/Users/{alice}", USER_EXT) == [
        *everywhere("linked", "alice"), {"name": "crowd", "state": "unlinked"}]
    assert found(second.idp, "/Users", f'{USER_EXT}:targets[name eq "crowd" and state eq "unlinked"]') == {alice}
    assert found(first.idp, "/Users", f'{USER_EXT}:targets[state eq "unlinked"]') == set()


def test_groups_carry_their_state_on_each_target_and_a_filter_finds_the_parked_ones(start):
    bridge = start(rules={**EMAIL_LOCAL_PART, "groups": {"include": ["^Dev"]}}, targets=LICENCE_GROUPS,
                   worker=False)
    idp = bridge.idp
    team = idp.create_group("Dev Team")
    bridge.drain()
    bridge.jira.knobs.force_error("POST", "/rest/api/2/group", 400, count=1)
    ops = idp.create_group("Dev Ops")
    sales = idp.create_group("Sales")
    bridge.drain()
    later = idp.create_group("Dev Later")

    plain = idp.ok(idp.get(f"/Groups/{ops}"), 200)
    assert GROUP_EXT not in plain and plain["schemas"] == [CORE_GROUP]
    assert all(GROUP_EXT not in g for g in idp.ok(idp.get("/Groups?excludedAttributes=members"), 200)["Resources"])

    # Confluence lower-cases group names (docs/products.md §3.2): the name it holds is the one shown.
    assert statuses(idp, f"/Groups/{team}", GROUP_EXT) == [
        {"name": "jira", "state": "linked", "groupName": "Dev Team"},
        {"name": "confluence", "state": "linked", "groupName": "dev team"},
        {"name": "bitbucket", "state": "linked", "groupName": "Dev Team"},
    ]
    assert statuses(idp, f"/Groups/{ops}", GROUP_EXT) == [
        {"name": "jira", "state": "parked", "groupName": "Dev Ops", "lastError": JIRA_GROUP_REFUSAL},
        {"name": "confluence", "state": "linked", "groupName": "dev ops"},
        {"name": "bitbucket", "state": "linked", "groupName": "Dev Ops"},
    ]
    assert statuses(idp, f"/Groups/{later}", GROUP_EXT) == [
        {"name": "jira", "state": "pending", "groupName": "Dev Later"},
        {"name": "confluence", "state": "pending", "groupName": "dev later"},  # the name reserved there
        {"name": "bitbucket", "state": "pending", "groupName": "Dev Later"},
    ]
    assert [t["state"] for t in statuses(idp, f"/Groups/{sales}", GROUP_EXT)] == ["skipped"] * 3
    assert statuses(idp, f"/Groups/{sales}", GROUP_EXT)[0]["reason"] == \
        "not pushed to this target (groups.include / groups.exclude)"

    assert found(idp, "/Groups", f'{GROUP_EXT}:targets[name eq "jira" and state eq "parked"]') == {ops}
    assert found(idp, "/Groups", f'{GROUP_EXT}:targets[state eq "skipped"]') == {sales}
    assert found(idp, "/Groups", f'{GROUP_EXT}:targets[groupName eq "dev later" and state eq "pending"]') == {later}
    # The User extension's URN names nothing on a Group: an unknown attribute, refused as a filter.
    assert idp.get("/Groups?filter=" + quote(f'{USER_EXT}:targets.state eq "parked"')).status == 400
