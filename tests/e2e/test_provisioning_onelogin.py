"""OneLogin provisioning into Jira, Confluence, Bitbucket and Crowd, end to end over real HTTP
(docs/identity-providers.md §1).

OneLogin sends what its SCIM JSON Template renders (string booleans, ``id: null``, ``meta``), matches
users by ``userName`` before creating them, updates with PUT of the whole template (also to suspend
and restore), deletes with DELETE, and changes group members with PATCH in the SCIM 1.1 form
(``operation: "delete"``) or the 2.0 one. It sends no group rename or delete
(docs/identity-providers.md §1.2): those are played by the Okta and Entra sequences.

The bridge runs its worker and waits for delivery before answering, so after each response the fakes
are asserted as they stand, with nothing left in the outbox. Crowd, the directory the three may share,
is a fourth target and ends each step as Jira does (``with_crowd``, docs/products.md §5).
"""

from __future__ import annotations

from tests.e2e.provisioning_support import (
    EMAIL_LOCAL_PART,
    LICENCE_GROUPS,
    WITH_CROWD,
    account,
    assert_fakes,
    with_crowd,
)
from tests.support.idp_requests import SCIM11_CORE, enterprise_v2_template


def template(user_name: str, first: str, last: str, *, active: str = "true", email: str | None = None) -> dict:
    """A vendor's SCIM 2.0 enterprise template, rendered: ``active`` as a string, ``id: null``, ``meta``."""
    body = enterprise_v2_template(user_name, first, last, active=active, title="Engineer", department="R&D",
                                  manager_id="")
    body["emails"][0]["value"] = email or user_name
    return body


def delivered(bridge) -> None:
    """The response came after delivery: nothing is left to deliver or parked."""
    assert bridge.outbox() == []


def test_onelogin_users_and_groups_reach_all_three_products_and_crowd(start):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, products=WITH_CROWD)
    idp = bridge.idp
    # "Enable": a lookup of a user it knows does not exist.
    assert idp.found('/Users?filter=userName eq "onelogin-test-3f1d2a9c@example.invalid"') == []

    # Provisioning: a userName lookup, then Create User.
    assert idp.found('/Users?filter=userName eq "Maria.Garcia@acme.example"') == []
    maria = idp.ok(idp.post("/Users", template("Maria.Garcia@acme.example", "Maria", "Garcia")), 201)["id"]
    assert idp.found('/Users?filter=userName eq "li.wei@acme.example"') == []
    li = idp.ok(idp.post("/Users", template("li.wei@acme.example", "Li", "Wei")), 201)["id"]
    delivered(bridge)
    maria_jira = account("Maria Garcia", "Maria.Garcia@acme.example", "jira-software-users")
    li_jira = account("Li Wei", "li.wei@acme.example", "jira-software-users")
    assert_fakes(bridge, with_crowd({
        "jira": ({"maria.garcia": maria_jira, "li.wei": li_jira},
                 {"jira-software-users": {"maria.garcia", "li.wei"}}),
        "confluence": ({"maria.garcia": account("Maria Garcia", "Maria.Garcia@acme.example", "confluence-users"),
                        "li.wei": account("Li Wei", "li.wei@acme.example", "confluence-users")},
                       {"confluence-users": {"maria.garcia", "li.wei"}}),
        "bitbucket": ({"maria.garcia": account("Maria Garcia", "Maria.Garcia@acme.example", "stash-users",
                                               licensed=True),
                       "li.wei": account("Li Wei", "li.wei@acme.example", "stash-users", licensed=True)},
                      {"stash-users": {"maria.garcia", "li.wei"}}),
    }))

    # Update User: the whole template again, with a new family name and address.
    idp.ok(idp.put(f"/Users/{maria}", template("Maria.Garcia@acme.example", "Maria", "Garcia-Lopez",
                                               email="maria.lopez@acme.example")), 200)
    delivered(bridge)
    for product in WITH_CROWD:
        user = bridge.state(product)[0]["maria.garcia"]
        assert (user.display, user.email) == ("Maria Garcia-Lopez", "maria.lopez@acme.example"), product

    # scimusername remapped: Jira, Bitbucket and Crowd rename the account; Confluence cannot, keeps the
    # old name and says so on the link.
    idp.ok(idp.put(f"/Users/{maria}", template("m.garcia@acme.example", "Maria", "Garcia-Lopez",
                                               email="maria.lopez@acme.example")), 200)
    delivered(bridge)
    maria_now = {"jira": "m.garcia", "confluence": "maria.garcia", "bitbucket": "m.garcia", "crowd": "m.garcia"}
    for product, name in maria_now.items():
        assert name in bridge.state(product)[0], product
    links = bridge.links("User", maria)
    assert {target: (link.status, link.name) for target, link in links.items()} == {
        "jira": ("ok", "m.garcia"), "confluence": ("ok", "maria.garcia"), "bitbucket": ("ok", "m.garcia"),
        "crowd": ("ok", "m.garcia")}
    assert links["confluence"].reason == ("confluence cannot rename users: the account keeps the name maria.garcia "
                                          "(the identity provider's userName now maps to m.garcia)")
    renames = {row for row in bridge.target_audit(maria) if "rename" in row[2]}
    assert renames == {("jira", "applied", "rename maria.garcia to m.garcia"),
                       ("bitbucket", "applied", "rename maria.garcia to m.garcia"),
                       ("crowd", "applied", "rename maria.garcia to m.garcia")}

    # Suspend: the template with "active": "false". Jira, Confluence and Crowd deactivate; Bitbucket, which
    # cannot, loses the licence (deactivate_with remove_license, the default).
    idp.ok(idp.put(f"/Users/{maria}", template("m.garcia@acme.example", "Maria", "Garcia-Lopez", active="false",
                                               email="maria.lopez@acme.example")), 200)
    delivered(bridge)
    maria_off = account("Maria Garcia-Lopez", "maria.lopez@acme.example", active=False)
    assert_fakes(bridge, with_crowd({
        "jira": ({"m.garcia": maria_off, "li.wei": li_jira}, {"jira-software-users": {"li.wei"}}),
        "confluence": ({"maria.garcia": maria_off, "li.wei": account("Li Wei", "li.wei@acme.example",
                                                                       "confluence-users")},
                       {"confluence-users": {"li.wei"}}),
        "bitbucket": ({"m.garcia": account("Maria Garcia-Lopez", "maria.lopez@acme.example", licensed=False),
                       "li.wei": account("Li Wei", "li.wei@acme.example", "stash-users", licensed=True)},
                      {"stash-users": {"li.wei"}}),
    }))

    # Restore: "active": "true" again.
    idp.ok(idp.put(f"/Users/{maria}", template("m.garcia@acme.example", "Maria", "Garcia-Lopez",
                                               email="maria.lopez@acme.example")), 200)
    delivered(bridge)
    for product, name in maria_now.items():
        user = bridge.state(product)[0][name]
        assert (user.active, user.licensed) == (True, True if product == "bitbucket" else None), product
        assert user.groups == {LICENCE_GROUPS[product]["default_groups"][0]}, product

    # Groups: Refresh Entitlements reads them, Create Group makes one per role value, then members
    # change in the SCIM 1.1 body (additions, and "operation": "delete") and in the 2.0 PatchOp.
    assert idp.found("/Groups") == []
    developers = idp.ok(idp.post("/Groups", {"schemas": [SCIM11_CORE], "displayName": "Developers"}), 201)["id"]
    path = f"/Groups/{developers}"
    idp.ok(idp.call("PATCH", path, {"schemas": [SCIM11_CORE], "members": [{"value": maria}, {"value": li}]}), 204)
    delivered(bridge)
    assert bridge.jira.members("Developers") == ["li.wei", "m.garcia"]
    assert bridge.confluence.members("developers") == ["li.wei", "maria.garcia"]
    assert bridge.bitbucket.members("Developers") == ["li.wei", "m.garcia"]
    assert bridge.crowd.members("Developers") == ["li.wei", "m.garcia"]
    idp.ok(idp.call("PATCH", path, {"schemas": [SCIM11_CORE], "members": [{"value": li, "operation": "delete"}]}),
           204)
    delivered(bridge)
    assert bridge.jira.members("Developers") == ["m.garcia"]
    assert bridge.crowd.members("Developers") == ["m.garcia"]
    idp.ok(idp.patch(path, [{"op": "add", "path": "members", "value": [{"value": li}]},
                            {"op": "remove", "path": f'members[value eq "{maria}"]'}]), 204)
    delivered(bridge)

    # Delete User (OneLogin's "Delete" action): on_delete deactivate, the default.
    idp.ok(idp.delete(f"/Users/{maria}"), 204)
    delivered(bridge)
    assert idp.get(f"/Users/{maria}").status == 404
    assert bridge.links("User", maria) == {}  # deprovisioned everywhere, the tombstone purged
    li_in = {"jira": account("Li Wei", "li.wei@acme.example", "jira-software-users", "Developers"),
             "confluence": account("Li Wei", "li.wei@acme.example", "confluence-users", "developers"),
             "bitbucket": account("Li Wei", "li.wei@acme.example", "stash-users", "Developers", licensed=True)}
    assert_fakes(bridge, with_crowd({
        "jira": ({"m.garcia": maria_off, "li.wei": li_in["jira"]},
                 {"jira-software-users": {"li.wei"}, "Developers": {"li.wei"}}),
        "confluence": ({"maria.garcia": maria_off, "li.wei": li_in["confluence"]},
                       {"confluence-users": {"li.wei"}, "developers": {"li.wei"}}),
        "bitbucket": ({"m.garcia": account("Maria Garcia-Lopez", "maria.lopez@acme.example", licensed=False),
                       "li.wei": li_in["bitbucket"]},
                      {"stash-users": {"li.wei"}, "Developers": {"li.wei"}}),
    }))
    # Every target call was made once: no user created twice, no deactivation repeated.
    calls = bridge.mutating_calls()
    for product, created in (("jira", "POST /rest/api/2/user"), ("confluence", "POST /rest/api/admin/user"),
                             ("bitbucket", "POST /rest/api/latest/admin/users"),
                             ("crowd", "POST /rest/usermanagement/1/user")):
        assert calls[product][created] == {"received": 2, "applied": 2}, product
    # Suspend and Delete each switched Maria off once, Restore on once: in the bridge's log of what it
    # applied, and in the products' own count of Confluence's disable / enable and Bitbucket's licence
    # permission (Jira's and Crowd's PUT /user also carry profile updates, so their log alone tells).
    switches = {"jira": ("deactivate m.garcia", "activate m.garcia"),
                "confluence": ("deactivate maria.garcia", "activate maria.garcia"),
                "bitbucket": ("revoke licence m.garcia", "grant licence m.garcia"),
                "crowd": ("deactivate m.garcia", "activate m.garcia")}
    for product, (off, on) in switches.items():
        applied = [row.detail for row in bridge.audit(resource_id=maria, scope=product, outcome="applied")
                   if row.action in ("set_active", "revoke_licence", "grant_licence")]
        assert applied == [off, on, off], product
    once = {"received": 1, "applied": 1}
    twice = {"received": 2, "applied": 2}
    assert calls["confluence"]["PUT /rest/api/admin/user/maria.garcia/disable"] == twice
    assert calls["confluence"]["PUT /rest/api/admin/user/maria.garcia/enable"] == once
    assert calls["bitbucket"]["DELETE /rest/api/latest/admin/permissions/users"] == twice
    assert calls["bitbucket"]["PUT /rest/api/latest/admin/permissions/users"] == once
