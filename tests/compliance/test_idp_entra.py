"""Microsoft Entra ID's provisioning requests (docs/identity-providers.md §3), in both of its PATCH dialects.

By default Entra capitalises ops (``Add``, ``Replace``, ``Remove``), sends booleans as strings
(``"False"``), removes members with ``path: "members"`` plus a value list, and adds the manager on
the unqualified ``manager`` path with an array value. With the ``aadOptscim062020`` flag on the
tenant URL it sends lower-case ops, real booleans, path-less replaces keyed by dotted and URN paths,
and removes members with ``members[value eq "…"]``. Both must leave the same resources behind.
"""

from __future__ import annotations

import pytest

from tests.compliance.readback import (
    BASE,
    CORE_GROUP,
    CORE_USER,
    ENTERPRISE_USER,
    LIST_RESPONSE,
    created,
    listed_ids,
    member,
    membership,
    patched,
    read_back,
)
from tests.support.idp_requests import ADSCIM_GROUP, entra_user


def expected_user(user_id: str, user_name: str, external_id: str, given: str, family: str, email: str) -> dict:
    return {
        "schemas": [CORE_USER, ENTERPRISE_USER],
        "id": user_id,
        "externalId": external_id,
        "userName": user_name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": email}],
        "name": {"formatted": f"{given} {family}", "familyName": family, "givenName": given},
        ENTERPRISE_USER: {"employeeNumber": "4711", "department": "Sales"},
    }


def _provision(scim, user_name: str, external_id: str, given: str, family: str, email: str, **nulls) -> str:
    """Entra's create: query by the matching attribute (externalId here), then POST."""
    assert listed_ids(scim, f'/Users?filter=externalId eq "{external_id}"') == []
    return created(scim.post("/Users", entra_user(user_name, external_id, given, family, email, **nulls)))


def _entra_group(scim, display_name: str, object_id: str) -> str:
    """Entra's ``POST /Groups``: its ADSCIM schema URN and ``meta``, no members."""
    assert listed_ids(scim, f'/Groups?excludedAttributes=members&filter=displayName eq "{display_name}"') == []
    return created(scim.post("/Groups", {
        "schemas": [CORE_GROUP, ADSCIM_GROUP],
        "externalId": object_id,
        "displayName": display_name,
        "meta": {"resourceType": "Group"},
    }))


def test_test_connection_with_a_random_guid_answers_an_empty_list(scim):
    for path in ('/Users?filter=userName eq "5c0d2b43-9b1e-4f7a-8c61-0e8f4f0a7d21"',
                 '/Groups?excludedAttributes=members&filter=displayName eq "0b6f7c2e-3a8d-4c55-9e1f-2d4a6b8c0e13"'):
        reply = scim.get(path)
        assert reply.status == 200
        assert reply.body == {"schemas": [LIST_RESPONSE], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0,
                              "Resources": []}


def test_create_with_explicit_nulls_and_the_matching_filters(scim):
    user_id = _provision(scim, "ahmed.k@contoso.example", "ahmedk", "Ahmed", "Khan", "ahmed.khan@contoso.example",
                         addresses=None, phoneNumbers=None, title=None, nickName=None,
                         **{ENTERPRISE_USER: {"employeeNumber": "4711", "department": "Sales", "manager": None}})
    expected = expected_user(user_id, "ahmed.k@contoso.example", "ahmedk", "Ahmed", "Khan",
                             "ahmed.khan@contoso.example")
    assert read_back(scim, f"/Users/{user_id}") == expected
    # Every matching attribute Entra may be configured with finds the user.
    for query in ('externalId eq "ahmedk"', 'userName eq "Ahmed.K@contoso.example"',
                  'emails[type eq "work"].value eq "ahmed.khan@contoso.example"'):
        assert listed_ids(scim, f"/Users?filter={query}") == [user_id], query
    # externalId is caseExact (RFC 7643 §3.1).
    assert listed_ids(scim, '/Users?filter=externalId eq "AHMEDK"') == []


def test_default_dialect_user_updates_manager_and_disable(scim):
    boss = _provision(scim, "lin.boss@contoso.example", "linb", "Lin", "Boss", "lin.boss@contoso.example")
    other_boss = _provision(scim, "ivo.boss@contoso.example", "ivob", "Ivo", "Boss", "ivo.boss@contoso.example")
    user_id = _provision(scim, "nora.s@contoso.example", "noras", "Nora", "Smith", "nora.smith@contoso.example")
    path = f"/Users/{user_id}"

    patched(scim, path, [
        {"op": "Replace", "path": "displayName", "value": "Nora Smith-Jones"},
        {"op": "Replace", "path": "name.familyName", "value": "Smith-Jones"},
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "nora.jones@contoso.example"},
        {"op": "Replace", "path": f"{ENTERPRISE_USER}:employeeNumber", "value": "5120"},
        {"op": "Add", "path": "title", "value": "Account Manager"},
    ], 200)
    expected = expected_user(user_id, "nora.s@contoso.example", "noras", "Nora", "Smith-Jones",
                             "nora.jones@contoso.example")
    expected.update(displayName="Nora Smith-Jones", title="Account Manager",
                    **{ENTERPRISE_USER: {"employeeNumber": "5120", "department": "Sales"}})
    expected["name"]["formatted"] = "Nora Smith"  # not sent, so unchanged
    assert read_back(scim, path) == expected
    assert listed_ids(scim, '/Users?filter=emails[type eq "work"].value eq "nora.jones@contoso.example"') == [user_id]

    # The manager: a two-clause check first, then an Add on the unqualified path with an array value.
    check = f'/Users?filter=id eq "{user_id}" and manager eq "{boss}"'
    assert listed_ids(scim, check) == []
    patched(scim, path, [{"op": "Add", "path": "manager",
                          "value": [{"$ref": f"{BASE}/Users/{boss}", "value": boss}]}], 200)
    assert listed_ids(scim, check) == [user_id]
    expected[ENTERPRISE_USER]["manager"] = {"$ref": f"{BASE}/Users/{boss}", "value": boss}
    assert read_back(scim, path) == expected
    # A changed manager replaces the old one.
    patched(scim, path, [{"op": "Add", "path": "manager",
                          "value": [{"$ref": f"{BASE}/Users/{other_boss}", "value": other_boss}]}], 200)
    assert listed_ids(scim, check) == []
    assert listed_ids(scim, f'/Users?filter=id eq "{user_id}" and manager eq "{other_boss}"') == [user_id]
    expected[ENTERPRISE_USER]["manager"] = {"$ref": f"{BASE}/Users/{other_boss}", "value": other_boss}
    assert read_back(scim, path) == expected

    # Disable (out of scope, soft delete): the string "False"; the user stays readable and findable.
    patched(scim, path, [{"op": "Replace", "path": "active", "value": "False"}], 200)
    assert read_back(scim, path) == {**expected, "active": False}
    assert listed_ids(scim, '/Users?filter=externalId eq "noras"') == [user_id]
    patched(scim, path, [{"op": "Replace", "path": "active", "value": "True"}], 200)
    assert read_back(scim, path) == expected

    # Hard delete in Entra.
    assert scim.delete(path).status == 204
    assert scim.get(path).status == 404


def test_a_manager_change_with_a_null_ref_leaves_no_stale_ref(scim):
    old_boss = _provision(scim, "ulf.boss@contoso.example", "ulfb", "Ulf", "Boss", "ulf.boss@contoso.example")
    new_boss = _provision(scim, "vic.boss@contoso.example", "vicb", "Vic", "Boss", "vic.boss@contoso.example")
    user_id = _provision(scim, "wen.li@contoso.example", "wenl", "Wen", "Li", "wen.li@contoso.example")
    path = f"/Users/{user_id}"
    patched(scim, path, [{"op": "Add", "path": "manager",
                          "value": [{"$ref": f"{BASE}/Users/{old_boss}", "value": old_boss}]}], 200)
    # Entra writes "$ref": null where it has no URI (as in its member values): the old manager's URI
    # must not survive next to the new manager's id.
    patched(scim, path, [{"op": "Add", "path": "manager", "value": [{"$ref": None, "value": new_boss}]}], 200)
    assert read_back(scim, path)[ENTERPRISE_USER]["manager"] == {"value": new_boss}


def test_flagged_dialect_user_updates(scim):
    user_id = _provision(scim, "omar.f@contoso.example", "omarf", "Omar", "Farah", "omar.farah@contoso.example")
    path = f"/Users/{user_id}"
    # aadOptscim062020: one path-less replace whose keys are dotted and URN-qualified paths.
    patched(scim, path, [{"op": "replace", "value": {
        "displayName": "Omar F. Farah",
        "name.givenName": "Omar F.",
        "name.familyName": "Farah-Ali",
        f"{ENTERPRISE_USER}:employeeNumber": "6230",
    }}], 200)
    expected = expected_user(user_id, "omar.f@contoso.example", "omarf", "Omar F.", "Farah-Ali",
                             "omar.farah@contoso.example")
    expected.update(displayName="Omar F. Farah", **{ENTERPRISE_USER: {"employeeNumber": "6230", "department": "Sales"}})
    expected["name"]["formatted"] = "Omar Farah"  # not sent, so unchanged
    assert read_back(scim, path) == expected

    patched(scim, path, [{"op": "replace", "path": "active", "value": False}], 200)
    assert read_back(scim, path) == {**expected, "active": False}


@pytest.mark.parametrize("dialect", ["default", "aadOptscim062020"])
def test_group_lifecycle(scim, dialect):
    flagged = dialect == "aadOptscim062020"
    users = [_provision(scim, f"{name}@contoso.example", name, name.title(), "Test", f"{name}@contoso.example")
             for name in ("ada", "bea", "cyd")]
    ada, bea, cyd = users
    group = _entra_group(scim, "Sales EMEA", "8f14e45f-ceea-467f-a8ad-0a2b3c4d5e6f")
    path = f"/Groups/{group}"
    assert read_back(scim, f"{path}?excludedAttributes=members") == {
        "schemas": [CORE_GROUP], "id": group, "externalId": "8f14e45f-ceea-467f-a8ad-0a2b3c4d5e6f",
        "displayName": "Sales EMEA"}

    add, remove, replace = ("add", "remove", "replace") if flagged else ("Add", "Remove", "Replace")
    # Several members in one operation, $ref null as Entra sends it.
    patched(scim, path, [{"op": add, "path": "members",
                          "value": [{"$ref": None, "value": ada}, {"$ref": None, "value": bea},
                                    {"$ref": None, "value": cyd}]}], 204)
    assert read_back(scim, path)["members"] == [member(ada), member(bea), member(cyd)]

    if flagged:
        removal = [{"op": remove, "path": f'members[value eq "{ada}"]'},
                   {"op": remove, "path": f'members[value eq "{cyd}"]'}]
    else:
        # Not "remove all members" as RFC 7644 §3.5.2.2 would read a filter-less path: only those listed.
        removal = [{"op": remove, "path": "members", "value": [{"$ref": None, "value": ada},
                                                               {"$ref": None, "value": cyd}]}]
    patched(scim, path, removal, 204)
    patched(scim, path, [{"op": replace, "path": "displayName", "value": "Sales Europe"}], 204)
    assert read_back(scim, path) == {"schemas": [CORE_GROUP], "id": group,
                                     "externalId": "8f14e45f-ceea-467f-a8ad-0a2b3c4d5e6f",
                                     "displayName": "Sales Europe", "members": [member(bea)]}
    # Entra's reads never load members.
    listed = scim.get('/Groups?excludedAttributes=members&filter=displayName eq "Sales Europe"').body
    assert [r["id"] for r in listed["Resources"]] == [group] and "members" not in listed["Resources"][0]
    assert read_back(scim, f"/Users/{bea}")["groups"] == [membership(group, "Sales Europe")]
    assert "groups" not in read_back(scim, f"/Users/{ada}")

    assert scim.delete(path).status == 204
    assert scim.get(path).status == 404
    assert "groups" not in read_back(scim, f"/Users/{bea}")
