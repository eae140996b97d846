"""Identity across the bridge: one Atlassian account per identity-provider user, end to end.

Two SCIM users (or groups) that the rules map to one Atlassian name cannot both be accepted: the
second write is refused with 409 ``uniqueness`` whose detail names the target, and nothing of it is
stored or delivered. A name stays taken for as long as an account carries it, also where the product
cannot rename (Confluence keeps the old name when the identity provider renames the user).
"""

from __future__ import annotations

import pytest

from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE_GROUPS, PRODUCTS
from tests.support.idp_requests import ERROR


def refused_as_taken(reply, target: str, name: str, holder: str, kind: str = "username") -> None:
    assert reply.status == 409, reply.body
    assert reply.body["schemas"] == [ERROR] and reply.body["status"] == "409"
    assert reply.body["scimType"] == "uniqueness"
    assert reply.body["detail"].startswith(f'On target "{target}" this ')
    assert f'the {kind} "{name}", which ' in reply.body["detail"] and holder in reply.body["detail"]


def test_two_users_mapped_to_one_username_the_second_is_refused_naming_the_target(start):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False)
    idp = bridge.idp
    alice = idp.create_user("alice@example.com", "Alice Smith")
    other = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "alice@example.org",
             "displayName": "Alice Other", "emails": [{"value": "alice@example.org", "primary": True}]}
    refused_as_taken(idp.post("/Users", other), "jira", "alice", alice)
    assert idp.found('/Users?filter=userName eq "alice@example.org"') == []
    # A rename into the taken name is refused the same way, and changes nothing.
    bob = idp.create_user("bob@example.org", "Bob Jones")
    refused_as_taken(idp.patch(f"/Users/{bob}", [{"op": "replace", "path": "userName", "value": "ALICE@example.net"}]),
                     "jira", "alice", alice)
    assert idp.ok(idp.get(f"/Users/{bob}"), 200)["userName"] == "bob@example.org"
    bridge.drain()
    for product in PRODUCTS:
        assert sorted(bridge.state(product)[0]) == ["alice", "bob"], product
        assert bridge.fake(product).user("alice").display_name == "Alice Smith"


def test_the_detail_names_the_one_target_whose_rules_collide(start):
    # Only Bitbucket strips the domain: the two users differ everywhere else.
    bridge = start(targets={**LICENCE_GROUPS, "bitbucket": {**LICENCE_GROUPS["bitbucket"], **EMAIL_LOCAL_PART}},
                   worker=False)
    first = bridge.idp.create_user("sam@corp.example", "Sam Corp")
    reply = bridge.idp.post("/Users", {"userName": "sam@partner.example", "displayName": "Sam Partner"})
    refused_as_taken(reply, "bitbucket", "sam", first)


def test_two_groups_mapped_to_one_group_name_the_second_is_refused(start):
    rules = {**EMAIL_LOCAL_PART, "groups": {"name": {"regex": "[ _-]", "replacement": ""}}}
    bridge = start(rules=rules, targets=LICENCE_GROUPS, worker=False)
    first = bridge.idp.create_group("Dev Team")
    reply = bridge.idp.post("/Groups", {"displayName": "Dev_Team"})
    refused_as_taken(reply, "jira", "DevTeam", first, kind="group name")
    assert bridge.idp.found('/Groups?filter=displayName eq "Dev_Team"') == []


@pytest.mark.parametrize(("update", "keeping"), [
    pytest.param(True, ["confluence"], id="confluence-cannot-rename"),
    pytest.param(False, list(PRODUCTS), id="users-update-off"),
])
def test_a_name_an_account_keeps_after_a_rename_stays_taken(start, update, keeping):
    bridge = start(rules={**EMAIL_LOCAL_PART, "users": {"update": update}}, targets=LICENCE_GROUPS, worker=False)
    idp = bridge.idp
    alice = idp.create_user("alice@example.com", "Alice Smith")
    bridge.drain()
    idp.change_user(alice, userName="alice.smith@example.com")
    bridge.drain()
    assert [p for p in PRODUCTS if bridge.fake(p).user("alice") is not None] == keeping
    # Where an account still carries the name alice, it is the first user's: a second user the rules
    # map to alice must not be accepted, or its delivery would link that account.
    other = {"userName": "alice@example.org", "displayName": "Alice Other",
             "emails": [{"value": "alice@example.org", "primary": True}]}
    second = idp.post("/Users", other)
    bridge.drain()
    for product in keeping:
        assert bridge.fake(product).user("alice").display_name == "Alice Smith", product
    refused_as_taken(second, keeping[0], "alice", alice)
    # Renamed back, the user is alice again everywhere, and nothing else holds the name.
    idp.change_user(alice, userName="alice@example.com")
    bridge.drain()
    assert {t: (link.reserved, link.name) for t, link in bridge.links("User", alice).items()} == {
        p: ("alice", "alice") for p in PRODUCTS}
