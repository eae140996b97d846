"""PATCH bodies in the shapes each identity provider sends (docs/identity-providers.md §1-§5).

Every body is written out here as the IdP sends it; each case asserts the canonical attributes and the
member changes the bridge derives from it. Cases marked [I] are inferred shapes (the reference names
them as such), the others are quoted by the vendors.
"""

from __future__ import annotations

import copy

import pytest

from scim_bridge.errors import Mutability
from scim_bridge.scim.matching import matches
from scim_bridge.scim.patch import MemberChanges, apply_patch
from scim_bridge.scim.patch_dialects import read_operations
from scim_bridge.scim.schemas import ENTERPRISE_USER, GROUP, USER
from tests.support.idp_requests import PATCH_OP

USER_ID = "2819c223-7f76-453a-919d-413861904646"
GROUP_ID = "e9e30dba-f08f-4109-8486-d5c6a331660a"
MANAGER_ID = "26118915-6090-4610-87e4-49d8ca9f808d"
U1, U2 = "902c246b-6245-4190-8e05-00816be7344a", "c3a1dd5c-3f0e-4b1a-8e9a-21b6a7c0e4c7"
GONE = object()

BASE_USER = {
    "userName": "bjensen@example.com",
    "externalId": "bjensen",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "displayName": "Babs Jensen",
    "active": True,
    "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
    ENTERPRISE_USER: {"employeeNumber": "701984"},
}
BASE_GROUP = {"displayName": "Tour Guides", "externalId": "00g1emaKYZTWRYYRRTSK"}


def user(**changes) -> dict:
    """BASE_USER with some attributes changed (GONE removes one); ``enterprise`` names the extension."""
    out = copy.deepcopy(BASE_USER)
    for key, value in changes.items():
        key = ENTERPRISE_USER if key == "enterprise" else key
        if value is GONE:
            out.pop(key)
        else:
            out[key] = value
    return out


def patch(*operations: dict) -> dict:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


USER_CASES = [
    # -- Okta (docs/identity-providers.md §2.2) ----------------------------------------------------
    pytest.param(BASE_USER, patch({"op": "replace", "value": {"active": False}}), user(active=False),
                 id="okta-deactivate-pathless"),
    pytest.param(user(active=False), patch({"op": "replace", "value": {"active": True}}), BASE_USER,
                 id="okta-reactivate-pathless"),
    # -- Entra ID, default dialect (docs/identity-providers.md §3.3) -------------------------------
    pytest.param(BASE_USER, patch({"op": "Replace", "path": "active", "value": "False"}), user(active=False),
                 id="entra-disable-string-boolean"),
    pytest.param(
        BASE_USER,
        patch(
            {"op": "Replace", "path": "userName", "value": "barbara.jensen@example.com"},
            {"op": "Replace", "path": "displayName", "value": "Barbara Jensen"},
            {"op": "Replace", "path": "name.givenName", "value": "Barb"},
            {"op": "Replace", "path": "name.familyName", "value": "Jensen-Smith"},
            {"op": "Replace", "path": "externalId", "value": "barbaraj"},
            {"op": "Add", "path": "title", "value": "Tour Guide"},
            {"op": "Add", "path": "nickName", "value": "Babs"},
            {"op": "Replace", "path": f"{ENTERPRISE_USER}:employeeNumber", "value": "701985"},
        ),
        user(userName="barbara.jensen@example.com", displayName="Barbara Jensen",
             name={"givenName": "Barb", "familyName": "Jensen-Smith"}, externalId="barbaraj", title="Tour Guide",
             nickName="Babs", enterprise={"employeeNumber": "701985"}),
        id="entra-one-op-per-changed-attribute",
    ),
    pytest.param(
        BASE_USER,
        patch({"op": "Add", "path": 'emails[type eq "work"].value', "value": "barbara@example.org"}),
        user(emails=[{"value": "barbara@example.org", "type": "work", "primary": True}]),
        id="entra-add-work-email-existing",
    ),
    pytest.param(
        user(emails=GONE),
        patch({"op": "Add", "path": 'emails[type eq "work"].value', "value": "barbara@example.org"}),
        user(emails=[{"type": "work", "value": "barbara@example.org"}]),
        id="entra-add-work-email-creates-it",
    ),
    pytest.param(
        BASE_USER,
        patch({"op": "Add", "path": "manager", "value": [
            {"$ref": f"http://example.com/scim/v2/Users/{MANAGER_ID}", "value": MANAGER_ID}]}),
        user(enterprise={"employeeNumber": "701984", "manager": {
            "$ref": f"http://example.com/scim/v2/Users/{MANAGER_ID}", "value": MANAGER_ID}}),
        id="entra-add-unqualified-manager-array",
    ),
    pytest.param(
        user(enterprise={"employeeNumber": "701984", "manager": {"value": MANAGER_ID}}),
        patch({"op": "Remove", "path": "manager"}),
        BASE_USER,
        id="entra-remove-unqualified-manager",
    ),
    # -- Entra ID with aadOptscim062020 (docs/identity-providers.md §3.4) --------------------------
    pytest.param(
        BASE_USER,
        patch({"op": "replace", "value": {
            "displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
            f"{ENTERPRISE_USER}:employeeNumber": "Aklq"}}),
        user(displayName="Bjfe", name={"givenName": "Kkom", "familyName": "Unua"},
             enterprise={"employeeNumber": "Aklq"}),
        id="entra-flag-pathless-dotted-and-urn-keys",
    ),
    pytest.param(BASE_USER, patch({"op": "replace", "path": "active", "value": False}), user(active=False),
                 id="entra-flag-boolean-active"),
    # -- Microsoft's SCIMReferenceCode tests (docs/identity-providers.md §5.2) ---------------------
    pytest.param(BASE_USER, patch({"op": "Replace", "path": "userName", "value": "newusername"}),
                 user(userName="newusername"), id="ms-tests-replace-username"),
    # -- OneLogin (docs/identity-providers.md §1.3, §1.4: its v2 PATCH bodies are undocumented) ----
    pytest.param(
        BASE_USER,
        patch({"op": "replace", "value": {"id": None, "userName": "bjensen@example.com", "active": "false",
                                          "meta": {"resourceType": "User"}}}),
        user(active=False),
        id="onelogin-template-id-null-string-boolean-meta [I]",
    ),
    pytest.param(
        BASE_USER,
        patch({"op": "replace", "value": {"emails": {"value": "barbara@example.org", "type": "work",
                                                     "primary": True}}}),
        user(emails=[{"value": "barbara@example.org", "type": "work", "primary": True}]),
        id="onelogin-emails-as-one-object [I]",
    ),
    pytest.param(
        BASE_USER,
        patch({"op": "replace", "value": {"urn:scim:schemas:extension:enterprise:1.0": {
            "department": "Tour Operations", "manager": {"managerId": MANAGER_ID}}}}),
        user(enterprise={"employeeNumber": "701984", "department": "Tour Operations",
                         "manager": {"value": MANAGER_ID}}),
        id="onelogin-scim11-enterprise-urn-key [I]",
    ),
    pytest.param(
        BASE_USER,
        patch({"op": "replace", "path": "urn:scim:schemas:core:1.0:name.givenName", "value": "Barb"}),
        user(name={"givenName": "Barb", "familyName": "Jensen"}),
        id="onelogin-scim11-core-urn-path [I]",
    ),
    pytest.param(
        user(title="Tour Guide"),
        {"schemas": ["urn:scim:schemas:core:1.0"], "name": {"givenName": "Barb"},
         "meta": {"attributes": ["title"]}},
        user(name={"givenName": "Barb", "familyName": "Jensen"}),
        id="scim11-partial-resource-with-meta-attributes [I]",
    ),
]


def check(rtype, before: dict, body: dict, resource_id: str, expected: dict, members: MemberChanges | None):
    snapshot = copy.deepcopy(before)
    result = apply_patch(rtype, before, body, resource_id=resource_id)
    assert result.attributes == expected
    assert result.changed == (expected != before)
    assert result.members == members
    assert before == snapshot, "the input attributes were mutated"


@pytest.mark.parametrize(("before", "body", "expected"), USER_CASES)
def test_user_dialects(before, body, expected):
    check(USER, before, body, USER_ID, expected, None)


GROUP_CASES = [
    # -- Okta Group Push (docs/identity-providers.md §2.3) -----------------------------------------
    pytest.param(
        patch({"op": "replace", "value": {"id": GROUP_ID, "displayName": "Tour Guides EMEA"}}),
        {**BASE_GROUP, "displayName": "Tour Guides EMEA"}, None,
        id="okta-rename-carrying-own-id",
    ),
    pytest.param(
        patch({"op": "remove", "path": f'members[value eq "{U1}"]'},
              {"op": "add", "path": "members", "value": [{"value": U2, "display": "dave@example.com"}]}),
        BASE_GROUP, MemberChanges(add=[{"value": U2}], remove=[U1]),
        id="okta-membership-remove-filter-and-add",
    ),
    pytest.param(
        patch({"op": "replace", "value": {"id": GROUP_ID, "displayName": "Tour Guides"}},
              {"op": "add", "path": "members", "value": [{"value": U1, "display": "bjensen@example.com"}]}),
        BASE_GROUP, MemberChanges(add=[{"value": U1}]),
        id="okta-rename-sent-with-membership-change",
    ),
    pytest.param(
        patch({"op": "replace", "path": "members", "value": [
            {"value": U1, "display": "bjensen@example.com"}, {"value": U2, "display": "dave@example.com"}]}),
        BASE_GROUP, MemberChanges(replace=[{"value": U1}, {"value": U2}]),
        id="okta-full-push-replace-members",
    ),
    # -- Entra ID (docs/identity-providers.md §3.3) ------------------------------------------------
    pytest.param(
        patch({"op": "Replace", "path": "displayName", "value": "Tour Guides EMEA"}),
        {**BASE_GROUP, "displayName": "Tour Guides EMEA"}, None,
        id="entra-rename",
    ),
    pytest.param(
        patch({"op": "Add", "path": "members", "value": [{"$ref": None, "value": U1}, {"$ref": None, "value": U2}]}),
        BASE_GROUP, MemberChanges(add=[{"value": U1}, {"value": U2}]),
        id="entra-add-several-members",
    ),
    pytest.param(
        patch({"op": "Remove", "path": "members", "value": [{"$ref": None, "value": U1}]}),
        BASE_GROUP, MemberChanges(remove=[U1]),
        id="entra-remove-members-with-value-list-removes-only-those",
    ),
    pytest.param(
        patch({"op": "remove", "path": f'members[value eq "{U1}"]'}),
        BASE_GROUP, MemberChanges(remove=[U1]),
        id="entra-flag-remove-member-filter",
    ),
    # -- Microsoft's SCIMReferenceCode tests (docs/identity-providers.md §5.2) ---------------------
    pytest.param(
        patch({"name": "addMember", "op": "add", "path": "members",
               "value": [{"displayName": "new User", "value": U2}]}),
        BASE_GROUP, MemberChanges(add=[{"value": U2}]),
        id="ms-tests-member-with-displayName",
    ),
    pytest.param(patch({"op": "remove", "path": "members"}), BASE_GROUP, MemberChanges(remove_all=True),
                 id="ms-tests-remove-all-members"),
    pytest.param(
        {"id": GROUP_ID, "Operations": [{"op": "add", "path": "members", "value": "string id 1"}],
         "schemas": [PATCH_OP]},
        BASE_GROUP, MemberChanges(add=[{"value": "string id 1"}]),
        id="ms-tests-garbage-bare-string-member",
    ),
    # -- OneLogin "Core Schema v1.1" connector (docs/identity-providers.md §1.4) -------------------
    pytest.param(
        {"members": [{"value": U1, "operation": "delete"}, {"value": U2}]},
        BASE_GROUP, MemberChanges(add=[{"value": U2}], remove=[U1]),
        id="onelogin-scim11-members-without-operations",
    ),
    pytest.param(
        {"schemas": ["urn:scim:schemas:core:1.0"], "members": [{"value": U1, "operation": "delete"}]},
        BASE_GROUP, MemberChanges(remove=[U1]),
        id="onelogin-scim11-members-delete-only",
    ),
]


@pytest.mark.parametrize(("body", "expected", "members"), GROUP_CASES)
def test_group_dialects(body, expected, members):
    check(GROUP, BASE_GROUP, body, GROUP_ID, expected, members)


def test_okta_rename_with_another_id_is_refused():
    body = patch({"op": "replace", "value": {"id": "another-id", "displayName": "Renamed"}})
    with pytest.raises(Mutability) as caught:
        apply_patch(GROUP, BASE_GROUP, body, resource_id=GROUP_ID)
    assert caught.value.scim_type == "mutability"
    assert GROUP_ID in caught.value.detail and '"id"' in caught.value.detail


def test_member_filter_other_than_value_eq_is_left_to_the_store():
    body = patch({"op": "remove", "path": 'members[display eq "bjensen@example.com"]'})
    changes = apply_patch(GROUP, BASE_GROUP, body, resource_id=GROUP_ID).members
    assert changes.remove == [] and len(changes.remove_matching) == 1
    node = changes.remove_matching[0]
    assert matches(node, {"value": U1, "display": "BJensen@example.com", "type": "User"}, GROUP)
    assert not matches(node, {"value": U2, "display": "dave@example.com", "type": "User"}, GROUP)


def test_okta_password_sync_sets_the_password_only():
    # [I] Okta syncs passwords by PATCH on OIN apps (docs/identity-providers.md §2.2), shaped like its deactivation.
    result = apply_patch(USER, BASE_USER, patch({"op": "replace", "value": {"password": "t1meMa$heen"}}),
                         resource_id=USER_ID)
    assert result.password == "t1meMa$heen"
    assert result.attributes == BASE_USER and not result.changed


@pytest.mark.parametrize("body", [
    {"schemas": [PATCH_OP], "Operations": [{"op": "REPLACE", "path": "active", "value": False}]},
    {"schemas": [PATCH_OP.upper()], "operations": [{"Op": "Replace", "Path": "active", "Value": False}]},
    {"Operations": [{"op": "replace", "path": "active", "value": False}]},
    {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
     "Operations": [{"op": "replace", "path": "active", "value": False}]},
], ids=["upper-case-op", "structural-keys-in-any-case", "schemas-missing", "schemas-wrong-urn"])
def test_envelope_is_read_leniently(body):
    [operation] = read_operations(body)
    assert (operation.op, operation.path, operation.value) == ("replace", "active", False)
    assert apply_patch(USER, BASE_USER, body, resource_id=USER_ID).attributes == user(active=False)
