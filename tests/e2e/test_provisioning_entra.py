"""Microsoft Entra ID provisioning into Jira, Confluence, Bitbucket and Crowd, end to end over real HTTP
(docs/identity-providers.md §3), in both of Entra's PATCH dialects.

Entra queries its matching attribute before a create, updates with one PATCH op per changed attribute
(capitalised ops and ``"False"`` strings by default; lower-case ops, real booleans and path-less
replaces keyed by dotted paths with the ``aadOptscim062020`` flag), disables with ``active`` false,
hard-deletes with DELETE, creates groups without members, adds several members per op and removes
them with ``path: "members"`` plus a value list (default) or ``members[value eq "…"]`` (flag),
renames groups with a ``displayName`` replace and deletes them.

The settings differ from the OneLogin and Okta sequences: ``groups.delete`` is on, so a renamed
group's old name and a deleted group go from the products; Bitbucket deactivates by deleting the
account (``deactivate_with: delete``, a per-target setting), so enabling the user again creates it anew.
Crowd, the directory the three may share, is a fourth target and ends each step as Jira does
(``with_crowd``, docs/products.md §5).
"""

from __future__ import annotations

import pytest

from tests.e2e.provisioning_support import (
    CORE_GROUP,
    EMAIL_LOCAL_PART,
    LICENCE,
    WITH_CROWD,
    account,
    assert_fakes,
    with_crowd,
)
from tests.support.idp_requests import ADSCIM_GROUP, entra_user

RULES = {**EMAIL_LOCAL_PART, "groups": {"delete": True}}
TARGETS = {
    "jira": {"default_groups": ["jira-software-users"]},
    "confluence": {"default_groups": ["confluence-users"]},
    "bitbucket": {"default_groups": ["stash-users"], "deactivate_with": "delete"},
    "crowd": {"default_groups": ["jira-software-users"]},
}


@pytest.mark.parametrize("dialect", ["default", "aadOptscim062020"])
def test_entra_users_and_groups_reach_all_three_products_and_crowd(start, dialect):
    flagged = dialect == "aadOptscim062020"
    add, remove, replace = ("add", "remove", "replace") if flagged else ("Add", "Remove", "Replace")
    false, true = (False, True) if flagged else ("False", "True")
    bridge = start(rules=RULES, targets=TARGETS, products=WITH_CROWD)
    idp = bridge.idp

    # Test Connection: a random GUID as the matching attribute answers an empty list.
    assert idp.found('/Users?filter=externalId eq "5c0d2b43-9b1e-4f7a-8c61-0e8f4f0a7d21"') == []

    def provision(user_name: str, external_id: str, given: str, family: str) -> str:
        assert idp.found(f'/Users?filter=externalId eq "{external_id}"') == []
        return idp.ok(idp.post("/Users", entra_user(user_name, external_id, given, family, user_name)), 201)["id"]

    ahmed = provision("ahmed.k@contoso.example", "ahmedk", "Ahmed", "Khan")
    nora = provision("nora.s@contoso.example", "noras", "Nora", "Smith")
    assert bridge.outbox() == []
    # Without a displayName the account is named from name.formatted.
    assert bridge.jira.user("ahmed.k").display_name == "Ahmed Khan"

    # An update: one op per changed attribute, or one path-less replace with dotted keys (flag).
    if flagged:
        operations = [{"op": "replace", "value": {"displayName": "Ahmed R. Khan", "name.givenName": "Ahmed R."}}]
    else:
        operations = [{"op": "Replace", "path": "displayName", "value": "Ahmed R. Khan"},
                      {"op": "Replace", "path": "name.givenName", "value": "Ahmed R."}]
    operations.append({"op": add, "path": 'emails[type eq "work"].value', "value": "ahmed.khan@contoso.example"})
    idp.ok(idp.patch(f"/Users/{ahmed}", operations), 200)
    # The user principal name changes: Jira, Bitbucket and Crowd rename, Confluence keeps ahmed.k.
    idp.ok(idp.patch(f"/Users/{ahmed}", [{"op": replace, "path": "userName", "value": "ahmed.khan@contoso.example"}]),
           200)
    assert bridge.outbox() == []
    for product in ("jira", "crowd"):
        assert bridge.state(product)[0]["ahmed.khan"] == account("Ahmed R. Khan", "ahmed.khan@contoso.example",
                                                                 "jira-software-users"), product
    assert bridge.state("confluence")[0]["ahmed.k"] == account("Ahmed R. Khan", "ahmed.khan@contoso.example",
                                                               "confluence-users")
    assert bridge.state("bitbucket")[0]["ahmed.khan"] == account("Ahmed R. Khan", "ahmed.khan@contoso.example",
                                                                 "stash-users", licensed=True)
    assert all("ahmed.k" not in bridge.state(product)[0] for product in ("jira", "bitbucket", "crowd"))

    # Disable (out of scope or soft-deleted in Entra): Bitbucket deletes the account.
    idp.ok(idp.patch(f"/Users/{ahmed}", [{"op": replace, "path": "active", "value": false}]), 200)
    for product in ("jira", "crowd"):
        assert bridge.state(product)[0]["ahmed.khan"] == account("Ahmed R. Khan", "ahmed.khan@contoso.example",
                                                                 active=False), product
    assert bridge.state("confluence")[0]["ahmed.k"] == account("Ahmed R. Khan", "ahmed.khan@contoso.example",
                                                               active=False)
    assert "ahmed.khan" not in bridge.state("bitbucket")[0]
    assert ("bitbucket", "applied", "delete user ahmed.khan") in bridge.target_audit(ahmed)
    # Enabled again: Jira, Confluence and Crowd reactivate; Bitbucket creates the account anew.
    idp.ok(idp.patch(f"/Users/{ahmed}", [{"op": replace, "path": "active", "value": true}]), 200)
    assert bridge.outbox() == []
    assert bridge.state("jira")[0]["ahmed.khan"].active is True
    assert bridge.state("crowd")[0]["ahmed.khan"].active is True
    assert bridge.state("confluence")[0]["ahmed.k"].active is True
    assert bridge.state("bitbucket")[0]["ahmed.khan"] == account("Ahmed R. Khan", "ahmed.khan@contoso.example",
                                                                 "stash-users", licensed=True)
    assert bridge.bitbucket.calls.applied("POST", "/rest/api/latest/admin/users") == 3  # ahmed twice, nora

    # Groups: created without members, read with excludedAttributes=members, several members per op.
    assert idp.found('/Groups?excludedAttributes=members&filter=displayName eq "Sales EMEA"') == []
    group = idp.ok(idp.post("/Groups", {"schemas": [CORE_GROUP, ADSCIM_GROUP], "externalId": "8f14e45f",
                                        "displayName": "Sales EMEA", "meta": {"resourceType": "Group"}}), 201)["id"]
    path = f"/Groups/{group}"
    idp.ok(idp.patch(path, [{"op": add, "path": "members",
                             "value": [{"$ref": None, "value": ahmed}, {"$ref": None, "value": nora}]}]), 204)
    assert bridge.jira.members("Sales EMEA") == ["ahmed.khan", "nora.s"]
    assert bridge.confluence.members("sales emea") == ["ahmed.k", "nora.s"]
    assert bridge.bitbucket.members("Sales EMEA") == ["ahmed.khan", "nora.s"]
    assert bridge.crowd.members("Sales EMEA") == ["ahmed.khan", "nora.s"]
    if flagged:
        removal = {"op": "remove", "path": f'members[value eq "{nora}"]'}
    else:
        # Only the listed members go, not all of them (RFC 7644 §3.5.2.2 would read it so).
        removal = {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": nora}]}
    idp.ok(idp.patch(path, [removal]), 204)
    assert bridge.jira.members("Sales EMEA") == ["ahmed.khan"]
    assert bridge.confluence.members("sales emea") == ["ahmed.k"]
    assert bridge.bitbucket.members("Sales EMEA") == ["ahmed.khan"]
    assert bridge.crowd.members("Sales EMEA") == ["ahmed.khan"]

    # Rename: the new group is created with the members moved, the old one deleted (groups.delete).
    idp.ok(idp.patch(path, [{"op": replace, "path": "displayName", "value": "Sales Europe"}]), 204)
    assert bridge.outbox() == []
    nora_jira = account("Nora Smith", "nora.s@contoso.example", "jira-software-users")
    nora_confluence = account("Nora Smith", "nora.s@contoso.example", "confluence-users")
    nora_bitbucket = account("Nora Smith", "nora.s@contoso.example", "stash-users", licensed=True)
    assert_fakes(bridge, with_crowd({
        "jira": ({"ahmed.khan": account("Ahmed R. Khan", "ahmed.khan@contoso.example", "jira-software-users",
                                        "Sales Europe"), "nora.s": nora_jira},
                 {"jira-software-users": {"ahmed.khan", "nora.s"}, "Sales Europe": {"ahmed.khan"}}),
        "confluence": ({"ahmed.k": account("Ahmed R. Khan", "ahmed.khan@contoso.example", "confluence-users",
                                           "sales europe"), "nora.s": nora_confluence},
                       {"confluence-users": {"ahmed.k", "nora.s"}, "sales europe": {"ahmed.k"}}),
        "bitbucket": ({"ahmed.khan": account("Ahmed R. Khan", "ahmed.khan@contoso.example", "stash-users",
                                             "Sales Europe", licensed=True), "nora.s": nora_bitbucket},
                      {"stash-users": {"ahmed.khan", "nora.s"}, "Sales Europe": {"ahmed.khan"}}),
    }))

    # Group deleted in Entra: gone from every product. Then Nora is hard-deleted: on_delete deactivate,
    # which on Bitbucket (deactivate_with delete) removes the account.
    idp.ok(idp.delete(path), 204)
    idp.ok(idp.delete(f"/Users/{nora}"), 204)
    assert bridge.outbox() == []
    assert idp.get(f"/Users/{nora}").status == 404 and idp.get(path).status == 404
    assert_fakes(bridge, with_crowd({
        "jira": ({"ahmed.khan": account("Ahmed R. Khan", "ahmed.khan@contoso.example", "jira-software-users"),
                  "nora.s": account("Nora Smith", "nora.s@contoso.example", active=False)},
                 {"jira-software-users": {"ahmed.khan"}}),
        "confluence": ({"ahmed.k": account("Ahmed R. Khan", "ahmed.khan@contoso.example", "confluence-users"),
                        "nora.s": account("Nora Smith", "nora.s@contoso.example", active=False)},
                       {"confluence-users": {"ahmed.k"}}),
        "bitbucket": ({"ahmed.khan": account("Ahmed R. Khan", "ahmed.khan@contoso.example", "stash-users",
                                             licensed=True)},
                      {"stash-users": {"ahmed.khan"}}),
    }))
    assert bridge.links("Group", group) == {} and bridge.links("User", nora) == {}
    assert {(row.scope, row.detail) for row in bridge.audit(resource_id=group) if row.action == "delete_group"} == {
        ("jira", "delete group Sales EMEA"), ("confluence", "delete group sales emea"),
        ("bitbucket", "delete group Sales EMEA"), ("jira", "delete group Sales Europe"),
        ("confluence", "delete group sales europe"), ("bitbucket", "delete group Sales Europe"),
        ("crowd", "delete group Sales EMEA"), ("crowd", "delete group Sales Europe")}
    assert set(LICENCE) == set(bridge.links("User", ahmed))
