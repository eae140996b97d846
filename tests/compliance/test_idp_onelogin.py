"""OneLogin's provisioning requests (docs/identity-providers.md §1), in the shapes its templates render.

OneLogin sends what the administrator's SCIM JSON Template renders: the stock templates are SCIM 1.1
documents (``urn:scim:schemas:core:1.0``, the 1.0 enterprise extension with ``manager.managerId``,
``emails`` as one object), newer ones put ``"active": "{$user.active}"`` (a string once rendered),
``"id": null`` and ``meta`` in a 2.0 body, and a placeholder with no value renders as "". Users
are matched by ``userName``, updated with PUT and deleted with DELETE; groups are created and their
members changed with PATCH, in the SCIM 1.1 form (``operation: "delete"``) or the 2.0 one.
"""

from __future__ import annotations

from tests.compliance.readback import (
    CORE_GROUP,
    CORE_USER,
    ENTERPRISE_USER,
    ERROR,
    LIST_RESPONSE,
    created,
    listed_ids,
    member,
    membership,
    patched,
    read_back,
)
from tests.support.idp_requests import SCIM11_CORE, core_template, enterprise_v1_template, enterprise_v2_template


def _lookup(user_name: str) -> str:
    return f'/Users?filter=userName eq "{user_name}"'


def test_connection_test_and_provisioning_with_the_stock_templates(scim):
    # "Enable" runs a userName lookup it knows finds nothing: an empty list, never 404.
    empty = scim.get(_lookup("onelogin-connection-test-3f1d2a9c@example.invalid"))
    assert empty.status == 200
    assert empty.body == {"schemas": [LIST_RESPONSE], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0,
                          "Resources": []}

    assert listed_ids(scim, _lookup("lea.boss@onelogin.example")) == []
    boss = created(scim.post("/Users", core_template("lea.boss@onelogin.example", "Lea", "Boss")))
    assert listed_ids(scim, _lookup("mia.wong@onelogin.example")) == []
    mia = created(scim.post("/Users", enterprise_v1_template(
        "mia.wong@onelogin.example", "Mia", "Wong", title="Engineer", department="R&D", manager_id=boss)))

    assert read_back(scim, f"/Users/{boss}") == {
        "schemas": [CORE_USER], "id": boss, "userName": "lea.boss@onelogin.example",
        "name": {"givenName": "Lea", "familyName": "Boss", "formatted": "Lea Boss"},
    }
    # The SCIM 1.1 extension URN lands in the 2.0 extension, managerId becomes manager.value, and the
    # single e-mail object becomes a one-element list.
    assert read_back(scim, f"/Users/{mia}") == {
        "schemas": [CORE_USER, ENTERPRISE_USER], "id": mia, "userName": "mia.wong@onelogin.example",
        "name": {"givenName": "Mia", "familyName": "Wong", "formatted": "Mia Wong"},
        "emails": [{"value": "mia.wong@onelogin.example", "type": "work", "primary": True}],
        "title": "Engineer",
        ENTERPRISE_USER: {"department": "R&D", "manager": {"value": boss}},
    }
    assert listed_ids(scim, _lookup("Mia.Wong@OneLogin.example")) == [mia]
    assert listed_ids(scim, "/Users") == [boss, mia]  # "Get Users"


def test_put_updates_suspends_and_restores_with_string_booleans(scim):
    boss = created(scim.post("/Users", core_template("ola.boss@onelogin.example", "Ola", "Boss")))
    body = enterprise_v2_template("sam.lind@onelogin.example", "Sam", "Lind", active="true", title="Analyst",
                                  department="Finance", manager_id="")
    sam = created(scim.post("/Users", body))
    expected = {
        "schemas": [CORE_USER, ENTERPRISE_USER], "id": sam, "userName": "sam.lind@onelogin.example",
        "active": True, "displayName": "Sam Lind", "title": "Analyst",
        "name": {"givenName": "Sam", "familyName": "Lind"},
        "emails": [{"value": "sam.lind@onelogin.example", "type": "work", "primary": True}],
        ENTERPRISE_USER: {"department": "Finance"},  # "" organisation and manager are unassigned
    }
    assert read_back(scim, f"/Users/{sam}") == expected

    # "Update User": the whole template again, now with a manager, a new title and "active": "false"
    # (the "Suspend" action); "id": null and "meta" are ignored.
    update = enterprise_v2_template("sam.lind@onelogin.example", "Sam", "Lind", active="false",
                                    title="Senior Analyst", department="Finance", manager_id=boss,
                                    organization="Contoso")
    assert scim.put(f"/Users/{sam}", update).status == 200
    expected.update(active=False, title="Senior Analyst",
                    **{ENTERPRISE_USER: {"department": "Finance", "organization": "Contoso",
                                         "manager": {"value": boss}}})
    assert read_back(scim, f"/Users/{sam}") == expected

    # A PUT replaces: the manager placeholder rendering empty removes the manager.
    restore = enterprise_v2_template("sam.lind@onelogin.example", "Sam", "Lind", active="true",
                                     title="Senior Analyst", department="Finance", manager_id="",
                                     organization="Contoso")
    assert scim.put(f"/Users/{sam}", restore).status == 200
    expected.update(active=True, **{ENTERPRISE_USER: {"department": "Finance", "organization": "Contoso"}})
    assert read_back(scim, f"/Users/{sam}") == expected


def test_delete_removes_the_user_and_its_memberships(scim):
    kim = created(scim.post("/Users", core_template("kim.berg@onelogin.example", "Kim", "Berg")))
    group = created(scim.post("/Groups", {"displayName": "Support", "members": [{"value": kim}]}))
    assert scim.delete(f"/Users/{kim}").status == 204
    assert scim.get(f"/Users/{kim}").status == 404
    assert listed_ids(scim, _lookup("kim.berg@onelogin.example")) == []
    assert read_back(scim, f"/Groups/{group}") == {"schemas": [CORE_GROUP], "id": group, "displayName": "Support"}
    # Re-provisioning after a delete creates a new user under the same userName.
    again = created(scim.post("/Users", core_template("kim.berg@onelogin.example", "Kim", "Berg")))
    assert again != kim


def test_groups_from_roles_with_scim11_and_scim20_member_changes(scim):
    ids = {name: created(scim.post("/Users", core_template(f"{name}@onelogin.example", name.title(), "Test")))
           for name in ("ana", "ben", "eva")}
    ana, ben, eva = ids["ana"], ids["ben"], ids["eva"]

    # "Refresh entitlements" reads the groups; "Create Group" makes one per role value.
    assert listed_ids(scim, "/Groups") == []
    group = created(scim.post("/Groups", {"schemas": [SCIM11_CORE], "displayName": "jira-developers"}))
    path = f"/Groups/{group}"
    duplicate = scim.post("/Groups", {"schemas": [SCIM11_CORE], "displayName": "JIRA-Developers"})
    assert duplicate.status == 409 and duplicate.body["schemas"] == [ERROR]
    assert listed_ids(scim, "/Groups") == [group]

    # SCIM 1.1 PATCH: the body is a partial group; listed members are added ...
    reply = scim.call("PATCH", path, {"schemas": [SCIM11_CORE], "members": [{"value": ana}, {"value": ben}]})
    assert reply.status == 204, reply.body
    assert read_back(scim, path)["members"] == [member(ana), member(ben)]
    # ... and those marked "operation": "delete" removed, in the same body as additions.
    reply = scim.call("PATCH", path, {"schemas": [SCIM11_CORE],
                                      "members": [{"value": ana, "operation": "delete"}, {"value": eva}]})
    assert reply.status == 204, reply.body
    assert read_back(scim, path) == {"schemas": [CORE_GROUP], "id": group, "displayName": "jira-developers",
                                     "members": [member(ben), member(eva)]}

    # The SCIM 2.0 connectors' PatchOp, including the remove-with-value form.
    patched(scim, path, [{"op": "add", "path": "members", "value": [{"value": ana}]},
                         {"op": "remove", "path": "members", "value": [{"value": ben}]}], 204)
    assert read_back(scim, path)["members"] == [member(ana), member(eva)]
    assert read_back(scim, f"/Users/{ana}")["groups"] == [membership(group, "jira-developers")]
    assert "groups" not in read_back(scim, f"/Users/{ben}")
