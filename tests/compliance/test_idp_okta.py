"""Okta's provisioning requests (docs/identity-providers.md §2), in Okta's shapes, and what the bridge stores.

Okta matches users by ``userName`` before creating them, updates with GET-then-PUT of the bridge's own
representation, (de)activates with a path-less PATCH, and pushes groups: create with an empty
member list, look up by displayName, and on every membership change a PATCH that also carries the
group's ``id`` and name.
"""

from __future__ import annotations

import copy

from tests.compliance.readback import (
    BASE,
    CORE_GROUP,
    ERROR,
    created,
    listed_ids,
    member,
    membership,
    patched,
    read_back,
)
from tests.support.idp_requests import OKTA_GROUP_LOOKUP, OKTA_USER_LOOKUP, okta_user


def _expected_user(user_id: str, login: str, given: str, family: str, okta_id: str) -> dict:
    """What the bridge keeps of that body: everything but the read-only groups and the password."""
    sent = okta_user(login, given, family, okta_id)
    return {"id": user_id, **{k: v for k, v in sent.items() if k not in ("groups", "password")}}


def _assign(scim, login: str, given: str, family: str, okta_id: str) -> str:
    """Okta's assignment: look the login up, create the user when it is not there."""
    assert listed_ids(scim, OKTA_USER_LOOKUP.format(login.replace("@", "%40"))) == []
    return created(scim.post("/Users", okta_user(login, given, family, okta_id)))


def test_assignment_update_deactivate_and_reactivate(scim):
    user_id = _assign(scim, "tess.ng@okta.example", "Tess", "Ng", "00ujl29u0le5T6Aj10h7")
    expected = _expected_user(user_id, "tess.ng@okta.example", "Tess", "Ng", "00ujl29u0le5T6Aj10h7")
    assert read_back(scim, f"/Users/{user_id}") == expected  # no password, no empty groups

    # The next assignment finds the user, whatever the case of the login (userName is caseExact false).
    assert listed_ids(scim, OKTA_USER_LOOKUP.format("TESS.NG%40OKTA.EXAMPLE")) == [user_id]

    # A profile push: Okta GETs the user, changes what changed and PUTs the whole representation back,
    # echoing id, meta and the read-only groups.
    current = scim.get(f"/Users/{user_id}").body
    echoed = copy.deepcopy(current)
    echoed["name"]["familyName"] = "Nguyen"
    echoed["displayName"] = "Tess Nguyen"
    echoed["groups"] = []
    reply = scim.put(f"/Users/{user_id}", echoed)
    assert reply.status == 200, reply.body
    expected.update(name={"givenName": "Tess", "familyName": "Nguyen"}, displayName="Tess Nguyen")
    assert read_back(scim, f"/Users/{user_id}") == expected

    # Deactivation (unassignment or deactivation in Okta): a replace without a path.
    deactivated = patched(scim, f"/Users/{user_id}", [{"op": "replace", "value": {"active": False}}], 200)
    assert deactivated["active"] is False
    assert read_back(scim, f"/Users/{user_id}") == {**expected, "active": False}
    # A deactivated user stays findable, so reassignment reuses the same id (docs/identity-providers.md §2.2).
    assert listed_ids(scim, OKTA_USER_LOOKUP.format("tess.ng%40okta.example")) == [user_id]

    patched(scim, f"/Users/{user_id}", [{"op": "replace", "value": {"active": True}}], 200)
    assert read_back(scim, f"/Users/{user_id}") == expected


def test_a_second_create_of_the_same_login_is_refused_and_changes_nothing(scim):
    user_id = _assign(scim, "raj.p@okta.example", "Raj", "Patel", "00u1")
    before = read_back(scim, f"/Users/{user_id}")
    again = scim.post("/Users", okta_user("Raj.P@OKTA.example", "Raj", "Patel", "00u2"))
    assert again.status == 409
    assert again.body["schemas"] == [ERROR] and again.body["scimType"] == "uniqueness" and again.body["detail"]
    assert read_back(scim, f"/Users/{user_id}") == before
    assert listed_ids(scim, "/Users?startIndex=1&count=100") == [user_id]


def test_group_push_rename_and_membership_changes(scim):
    ann = _assign(scim, "ann@okta.example", "Ann", "Lee", "00ua")
    bob = _assign(scim, "bob@okta.example", "Bob", "Ray", "00ub")
    cho = _assign(scim, "cho@okta.example", "Cho", "Kim", "00uc")

    # Group Push: not found by name, then created with an empty member list.
    assert listed_ids(scim, OKTA_GROUP_LOOKUP.format("Test%20SCIMv2")) == []
    group_id = created(scim.post("/Groups", {"schemas": [CORE_GROUP], "displayName": "Test SCIMv2", "members": []}))
    assert listed_ids(scim, OKTA_GROUP_LOOKUP.format("Test%20SCIMv2")) == [group_id]
    group_path = f"/Groups/{group_id}"
    assert read_back(scim, group_path) == {"schemas": [CORE_GROUP], "id": group_id, "displayName": "Test SCIMv2"}

    def rename(name: str) -> dict:
        # Sent with every membership update, carrying the group's own (read-only) id.
        return {"op": "replace", "value": {"id": group_id, "displayName": name}}

    def add(*users: tuple[str, str]) -> dict:
        return {"op": "add", "path": "members", "value": [{"value": uid, "display": login} for uid, login in users]}

    patched(scim, group_path, [rename("Test SCIMv2"), add((ann, "ann@okta.example"), (bob, "bob@okta.example"))],
            204)
    assert read_back(scim, group_path) == {
        "schemas": [CORE_GROUP], "id": group_id, "displayName": "Test SCIMv2", "members": [member(ann), member(bob)]}

    # One PATCH: a rename, a removal by filter and an addition.
    patched(scim, group_path, [
        rename("Engineering"),
        {"op": "remove", "path": f'members[value eq "{ann}"]'},
        add((cho, "cho@okta.example")),
    ], 204)
    assert read_back(scim, group_path) == {
        "schemas": [CORE_GROUP], "id": group_id, "displayName": "Engineering", "members": [member(bob), member(cho)]}
    assert listed_ids(scim, OKTA_GROUP_LOOKUP.format("Engineering")) == [group_id]
    assert listed_ids(scim, OKTA_GROUP_LOOKUP.format("Test%20SCIMv2")) == []
    assert "groups" not in read_back(scim, f"/Users/{ann}")
    assert read_back(scim, f"/Users/{cho}")["groups"] == [membership(group_id, "Engineering")]

    # "Push now": the complete member list replaces the old one.
    patched(scim, group_path, [rename("Engineering"),
                               {"op": "replace", "path": "members", "value": [{"value": ann}, {"value": cho}]}], 204)
    assert read_back(scim, group_path)["members"] == [member(ann), member(cho)]
    assert "groups" not in read_back(scim, f"/Users/{bob}")

    # Unlink with "delete the group in the target app".
    assert scim.delete(group_path).status == 204
    assert scim.get(group_path).status == 404
    assert listed_ids(scim, OKTA_GROUP_LOOKUP.format("Engineering")) == []
    for user_id in (ann, bob, cho):
        assert "groups" not in read_back(scim, f"/Users/{user_id}")


def test_a_rename_carrying_another_id_is_refused_and_changes_nothing(scim):
    group_id = created(scim.post("/Groups", {"schemas": [CORE_GROUP], "displayName": "Sales", "members": []}))
    before = read_back(scim, f"/Groups/{group_id}")
    reply = scim.patch(f"/Groups/{group_id}",
                       [{"op": "replace", "value": {"id": "some-other-id", "displayName": "Marketing"}}])
    assert reply.status == 400 and reply.body["scimType"] == "mutability"
    assert group_id in reply.body["detail"]
    assert read_back(scim, f"/Groups/{group_id}") == before


def test_okta_import_pages_with_integer_fields_in_a_stable_order(scim):
    ids = [_assign(scim, f"user{i}@okta.example", "User", f"N{i}", f"00u{i}") for i in range(5)]
    first = scim.get("/Users?startIndex=1&count=3").body
    second = scim.get("/Users?startIndex=4&count=3").body
    assert (first["totalResults"], first["startIndex"], first["itemsPerPage"]) == (5, 1, 3)
    assert (second["totalResults"], second["startIndex"], second["itemsPerPage"]) == (5, 4, 2)
    assert [r["id"] for r in first["Resources"] + second["Resources"]] == ids
    assert first["Resources"][0]["meta"]["location"] == f"{BASE}/Users/{ids[0]}"

