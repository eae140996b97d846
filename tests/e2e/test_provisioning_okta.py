"""Okta provisioning into Jira, Confluence, Bitbucket and Crowd, end to end over real HTTP
(docs/identity-providers.md §2).

Okta matches a login with a URL-encoded ``userName`` filter before creating the user, pushes profile
changes as GET-then-PUT of the bridge's own representation, (de)activates with a path-less PATCH and
never deletes users. Group Push looks the name up, creates the group with no members, and sends
every membership change as one PATCH that also carries the group's ``id`` and name, which is how a
rename arrives; "push now" replaces the whole member list; unlinking deletes the group.

``groups.delete`` is left off (the default) here: a renamed group's old name and a deleted group
stay on the products, emptied of the members the bridge put there. The Entra sequence turns it on.
Crowd, the directory the three may share, is a fourth target and ends each step as Jira does
(``with_crowd``, docs/products.md §5).
"""

from __future__ import annotations

import copy

from tests.e2e.provisioning_support import (
    CORE_GROUP,
    EMAIL_LOCAL_PART,
    LICENCE,
    LICENCE_GROUPS,
    WITH_CROWD,
    account,
    assert_fakes,
    with_crowd,
)
from tests.support.idp_requests import OKTA_GROUP_LOOKUP, OKTA_USER_LOOKUP, okta_user


def test_okta_assignment_profile_push_and_group_push(start):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, products=WITH_CROWD)
    idp = bridge.idp

    def assign(login: str, given: str, family: str, okta_id: str) -> str:
        assert idp.found(OKTA_USER_LOOKUP.format(login.replace("@", "%40"))) == []
        return idp.ok(idp.post("/Users", okta_user(login, given, family, okta_id)), 201)["id"]

    tess = assign("tess.ng@okta.example", "Tess", "Ng", "00u1")
    raj = assign("raj.p@okta.example", "Raj", "Patel", "00u2")
    cho = assign("cho@okta.example", "Cho", "Kim", "00u3")
    assert bridge.outbox() == []
    people = {"tess.ng": ("Tess Ng", "tess.ng@okta.example"), "raj.p": ("Raj Patel", "raj.p@okta.example"),
              "cho": ("Cho Kim", "cho@okta.example")}
    assert_fakes(bridge, {
        product: ({name: account(*who, LICENCE[product], licensed=True if product == "bitbucket" else None)
                   for name, who in people.items()}, {LICENCE[product]: set(people)})
        for product in WITH_CROWD
    })

    # Profile push: GET, change, PUT back everything (id, meta and read-only groups included).
    current = idp.ok(idp.get(f"/Users/{tess}"), 200)
    echoed = copy.deepcopy(current)
    echoed["name"]["familyName"] = "Nguyen"
    echoed["displayName"] = "Tess Nguyen"
    echoed["emails"] = [{"primary": True, "value": "tess.nguyen@okta.example", "type": "work"}]
    echoed["groups"] = []
    idp.ok(idp.put(f"/Users/{tess}", echoed), 200)
    # The login changes too: Jira, Bitbucket and Crowd rename, Confluence keeps tess.ng and reports it.
    echoed = copy.deepcopy(idp.ok(idp.get(f"/Users/{tess}"), 200))
    echoed["userName"] = "tess.nguyen@okta.example"
    idp.ok(idp.put(f"/Users/{tess}", echoed), 200)
    assert bridge.outbox() == []
    tess_name = {"jira": "tess.nguyen", "confluence": "tess.ng", "bitbucket": "tess.nguyen", "crowd": "tess.nguyen"}
    for product, name in tess_name.items():
        user = bridge.state(product)[0][name]
        assert (user.display, user.email) == ("Tess Nguyen", "tess.nguyen@okta.example"), product
    assert all("tess.ng" not in bridge.state(product)[0] for product in ("jira", "bitbucket", "crowd"))
    assert "cannot rename users" in bridge.links("User", tess)["confluence"].reason

    # Deactivation (unassigned in Okta), then activation: a replace without a path.
    idp.ok(idp.patch(f"/Users/{tess}", [{"op": "replace", "value": {"active": False}}]), 200)
    for product in ("jira", "crowd"):
        assert bridge.state(product)[0]["tess.nguyen"] == account("Tess Nguyen", "tess.nguyen@okta.example",
                                                                  active=False), product
    assert bridge.state("confluence")[0]["tess.ng"] == account("Tess Nguyen", "tess.nguyen@okta.example",
                                                               active=False)
    assert bridge.state("bitbucket")[0]["tess.nguyen"] == account("Tess Nguyen", "tess.nguyen@okta.example",
                                                                  licensed=False)
    idp.ok(idp.patch(f"/Users/{tess}", [{"op": "replace", "value": {"active": True}}]), 200)
    for product in ("jira", "crowd"):
        assert bridge.state(product)[0]["tess.nguyen"] == account("Tess Nguyen", "tess.nguyen@okta.example",
                                                                  "jira-software-users"), product
    assert bridge.state("bitbucket")[0]["tess.nguyen"] == account("Tess Nguyen", "tess.nguyen@okta.example",
                                                                  "stash-users", licensed=True)

    # Group Push: not found by name, created empty, then members with the rename op Okta always adds.
    assert idp.found(OKTA_GROUP_LOOKUP.format("Test%20SCIMv2")) == []
    group = idp.ok(idp.post("/Groups", {"schemas": [CORE_GROUP], "displayName": "Test SCIMv2", "members": []}),
                   201)["id"]
    path = f"/Groups/{group}"

    def rename(name: str) -> dict:
        return {"op": "replace", "value": {"id": group, "displayName": name}}

    def add(*users: tuple[str, str]) -> dict:
        return {"op": "add", "path": "members", "value": [{"value": uid, "display": login} for uid, login in users]}

    idp.ok(idp.patch(path, [rename("Test SCIMv2"), add((tess, "tess.nguyen@okta.example"),
                                                       (raj, "raj.p@okta.example"))]), 204)
    assert bridge.jira.members("Test SCIMv2") == ["raj.p", "tess.nguyen"]
    assert bridge.confluence.members("test scimv2") == ["raj.p", "tess.ng"]
    assert bridge.crowd.members("Test SCIMv2") == ["raj.p", "tess.nguyen"]

    # One PATCH renames the group, removes Raj by filter and adds Cho: the new group is created with
    # the members moved across; the old one stays (groups.delete off), emptied.
    idp.ok(idp.patch(path, [rename("Engineering"), {"op": "remove", "path": f'members[value eq "{raj}"]'},
                            add((cho, "cho@okta.example"))]), 204)
    assert bridge.outbox() == []
    for product, old, new, members in (("jira", "Test SCIMv2", "Engineering", ["cho", "tess.nguyen"]),
                                       ("confluence", "test scimv2", "engineering", ["cho", "tess.ng"]),
                                       ("bitbucket", "Test SCIMv2", "Engineering", ["cho", "tess.nguyen"]),
                                       ("crowd", "Test SCIMv2", "Engineering", ["cho", "tess.nguyen"])):
        fake = bridge.fake(product)
        assert (fake.members(old), fake.members(new)) == ([], members), product
    assert bridge.links("Group", group)["jira"].name == "Engineering"
    assert "Test SCIMv2 is left on the target (groups.delete is off)" in bridge.links("Group", group)["jira"].reason

    # "Push now": the complete member list.
    idp.ok(idp.patch(path, [rename("Engineering"),
                            {"op": "replace", "path": "members", "value": [{"value": tess}, {"value": raj}]}]), 204)
    assert bridge.jira.members("Engineering") == ["raj.p", "tess.nguyen"]
    assert bridge.confluence.members("engineering") == ["raj.p", "tess.ng"]
    assert bridge.bitbucket.members("Engineering") == ["raj.p", "tess.nguyen"]
    assert bridge.crowd.members("Engineering") == ["raj.p", "tess.nguyen"]

    # Unlink with "delete the group in the target app": memberships go, the group stays (groups.delete off).
    idp.ok(idp.delete(path), 204)
    # Okta never deletes users: unassigning Raj deactivates him.
    idp.ok(idp.patch(f"/Users/{raj}", [{"op": "replace", "value": {"active": False}}]), 200)
    assert bridge.outbox() == []
    tess_now = ("Tess Nguyen", "tess.nguyen@okta.example")
    assert_fakes(bridge, with_crowd({
        "jira": ({"tess.nguyen": account(*tess_now, "jira-software-users"),
                  "raj.p": account("Raj Patel", "raj.p@okta.example", active=False),
                  "cho": account("Cho Kim", "cho@okta.example", "jira-software-users")},
                 {"jira-software-users": {"tess.nguyen", "cho"}, "Test SCIMv2": set(), "Engineering": set()}),
        "confluence": ({"tess.ng": account(*tess_now, "confluence-users"),
                        "raj.p": account("Raj Patel", "raj.p@okta.example", active=False),
                        "cho": account("Cho Kim", "cho@okta.example", "confluence-users")},
                       {"confluence-users": {"tess.ng", "cho"}, "test scimv2": set(), "engineering": set()}),
        "bitbucket": ({"tess.nguyen": account(*tess_now, "stash-users", licensed=True),
                       "raj.p": account("Raj Patel", "raj.p@okta.example", licensed=False),
                       "cho": account("Cho Kim", "cho@okta.example", "stash-users", licensed=True)},
                      {"stash-users": {"tess.nguyen", "cho"}, "Test SCIMv2": set(), "Engineering": set()}),
    }))
    assert bridge.links("Group", group) == {}  # the deleted group is forgotten on every target
    left = "deleted in the identity provider; groups.delete is off: {} is left on the target"
    assert {(row.scope, row.detail) for row in bridge.audit(resource_id=group, outcome="skipped")} == {
        ("jira", left.format("Engineering")), ("confluence", left.format("engineering")),
        ("bitbucket", left.format("Engineering")), ("crowd", left.format("Engineering"))}
