"""RFC 7644 §3.5.2 PATCH semantics on canonical resources, member change folding, and every refusal."""

from __future__ import annotations

import copy

import pytest

from scim_bridge.errors import InvalidFilter, InvalidPath, InvalidSyntax, InvalidValue, Mutability, NoTarget
from scim_bridge.scim.patch import MemberChanges, apply_patch
from scim_bridge.scim.schemas import ENTERPRISE_USER, GROUP, USER
from tests.support.idp_requests import PATCH_OP

USER_ID = "2819c223-7f76-453a-919d-413861904646"
GROUP_ID = "acbf3ae7-8463-4692-b4fd-9b4da3f908ce"
A, B, C = "2819c223-7f76-453a-919d-413861904646", "902c246b-6245-4190-8e05-00816be7344a", "08e1d05d-121c-4561-8b96"

WORK = {"value": "bjensen@example.com", "type": "work", "primary": True}
HOME = {"value": "babs@jensen.org", "type": "home"}
WORK_ADDRESS = {"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood"}
# The user of RFC 7643 §8.2, trimmed, in canonical form.
BJENSEN = {
    "userName": "bjensen@example.com",
    "name": {"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen III"},
    "displayName": "Babs Jensen",
    "title": "Tour Guide",
    "active": True,
    "emails": [WORK, HOME],
    "addresses": [WORK_ADDRESS],
    ENTERPRISE_USER: {"employeeNumber": "701984", "department": "Tour Operations"},
}
TOUR_GUIDES = {"displayName": "Tour Guides"}


def patch(*operations: dict) -> dict:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def bjensen(**changes) -> dict:
    """BJENSEN with top-level attributes replaced (None removes one; ``enterprise`` is the extension)."""
    out = copy.deepcopy(BJENSEN)
    for key, value in changes.items():
        key = ENTERPRISE_USER if key == "enterprise" else key
        out.pop(key) if value is None else out.__setitem__(key, value)
    return out


def run(rtype, before: dict, body: dict, resource_id: str = USER_ID):
    snapshot = copy.deepcopy(before)
    result = apply_patch(rtype, before, body, resource_id=resource_id)
    assert before == snapshot, "the input attributes were mutated"
    return result


USER_CASES = [
    # RFC 7644 §3.5.2.1 add
    pytest.param(patch({"op": "add", "value": {"emails": [{"value": "babs@example.org", "type": "other"}],
                                               "nickname": "Babs"}}),
                 bjensen(emails=[WORK, HOME, {"value": "babs@example.org", "type": "other"}], nickName="Babs"),
                 id="add-pathless-appends-and-canonicalises-names"),
    pytest.param(patch({"op": "add", "path": "emails", "value": [HOME]}), BJENSEN,
                 id="add-identical-value-is-not-duplicated"),
    pytest.param(patch({"op": "add", "path": "emails", "value": [{"value": "b@x.org", "primary": True}]}),
                 bjensen(emails=[{**WORK, "primary": False}, HOME, {"value": "b@x.org", "primary": True}]),
                 id="add-primary-clears-the-previous-primary"),
    pytest.param(patch({"op": "add", "path": "title", "value": "Senior Tour Guide"}),
                 bjensen(title="Senior Tour Guide"), id="add-single-valued-replaces"),
    pytest.param(patch({"op": "add", "path": "name", "value": {"middleName": "Jane"}}),
                 bjensen(name={**BJENSEN["name"], "middleName": "Jane"}), id="add-complex-merges-sub-attributes"),
    pytest.param(patch({"op": "add", "path": "nickName", "value": None}), BJENSEN, id="add-null-to-unassigned"),
    pytest.param(patch({"op": "add", "path": "emails", "value": []}), BJENSEN, id="add-empty-list-adds-nothing"),
    pytest.param(patch({"op": "add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "555-555-4444"}),
                 bjensen(phoneNumbers=[{"type": "mobile", "value": "555-555-4444"}]),
                 id="add-filtered-sub-attribute-creates-described-element"),
    pytest.param(patch({"op": "add", "path": 'emails[type eq "home"]', "value": {"display": "Babs at home"}}),
                 bjensen(emails=[WORK, {**HOME, "display": "Babs at home"}]),
                 id="add-filtered-element-merges"),
    # RFC 7644 §3.5.2.2 remove
    pytest.param(patch({"op": "remove", "path": 'emails[type eq "work" and value ew "example.com"]'}),
                 bjensen(emails=[HOME]), id="remove-filtered-values"),
    pytest.param(patch({"op": "remove", "path": "emails"}), bjensen(emails=None), id="remove-multi-valued-all"),
    pytest.param(patch({"op": "remove", "path": "title"}), bjensen(title=None), id="remove-single-valued"),
    pytest.param(patch({"op": "remove", "path": "name.formatted"}),
                 bjensen(name={"givenName": "Barbara", "familyName": "Jensen"}), id="remove-sub-attribute"),
    pytest.param(patch({"op": "remove", "path": 'emails[type eq "home"].value'}),
                 bjensen(emails=[WORK, {"type": "home"}]), id="remove-filtered-sub-attribute"),
    pytest.param(patch({"op": "remove", "path": 'emails[type eq "other"]'}), BJENSEN,
                 id="remove-filter-matching-nothing-is-a-no-op"),
    pytest.param(patch({"op": "remove", "path": "nickName"}), BJENSEN, id="remove-unassigned-is-a-no-op"),
    pytest.param(patch({"op": "remove", "path": f"{ENTERPRISE_USER}:department"}),
                 bjensen(enterprise={"employeeNumber": "701984"}), id="remove-extension-attribute"),
    pytest.param(patch({"op": "remove", "path": f"{ENTERPRISE_USER}:department"},
                       {"op": "remove", "path": f"{ENTERPRISE_USER}:employeeNumber"}),
                 bjensen(enterprise=None), id="remove-last-extension-attribute-drops-extension"),
    pytest.param(patch({"op": "remove", "path": ENTERPRISE_USER}), bjensen(enterprise=None),
                 id="remove-whole-extension"),
    pytest.param(patch({"op": "remove", "path": "emails", "value": [{"value": "babs@jensen.org"}]}),
                 bjensen(emails=[WORK]), id="remove-listed-values-only"),
    pytest.param(patch({"op": "remove", "path": "emails", "value": []}), BJENSEN,
                 id="remove-with-empty-value-list-removes-nothing"),
    # RFC 7644 §3.5.2.3 replace
    pytest.param(patch({"op": "replace", "value": {"emails": [HOME], "nickname": "Babs"}}),
                 bjensen(emails=[HOME], nickName="Babs"), id="replace-pathless"),
    pytest.param(patch({"op": "replace", "value": {"adreses": [WORK_ADDRESS], "title": "Guide", "schemas": [],
                                                   "groups": [{"value": GROUP_ID}], "meta": {"version": "W/\"9\""}}}),
                 bjensen(title="Guide"), id="replace-pathless-ignores-unknown-and-read-only-keys"),
    pytest.param(patch({"op": "replace", "path": 'addresses[type eq "work"]',
                        "value": {"type": "work", "streetAddress": "911 Universal City Plaza", "primary": "true"}}),
                 bjensen(addresses=[{"type": "work", "streetAddress": "911 Universal City Plaza", "primary": True}]),
                 id="replace-filtered-element-whole"),
    pytest.param(patch({"op": "replace", "path": 'addresses[type eq "work"].streetAddress',
                        "value": "1010 Broadway Ave"}),
                 bjensen(addresses=[{**WORK_ADDRESS, "streetAddress": "1010 Broadway Ave"}]),
                 id="replace-filtered-sub-attribute"),
    pytest.param(patch({"op": "replace", "path": 'emails[type eq "home"].primary', "value": "True"}),
                 bjensen(emails=[{**WORK, "primary": False}, {**HOME, "primary": True}]),
                 id="replace-primary-moves-it"),
    pytest.param(patch({"op": "replace", "path": "name", "value": {"givenName": "Barb"}}),
                 bjensen(name={**BJENSEN["name"], "givenName": "Barb"}), id="replace-complex-merges"),
    pytest.param(patch({"op": "replace", "path": "emails.type", "value": "other"}),
                 bjensen(emails=[{**WORK, "type": "other"}, {**HOME, "type": "other"}]),
                 id="replace-sub-attribute-of-every-value"),
    pytest.param(patch({"op": "replace", "path": "title", "value": ""}), bjensen(title=None),
                 id="replace-with-empty-string-unassigns"),
    pytest.param(patch({"op": "replace", "path": "emails", "value": None}), bjensen(emails=None),
                 id="replace-multi-valued-with-null-unassigns"),
    pytest.param(patch({"op": "replace", "path": 'emails[type eq "home"]', "value": None}),
                 bjensen(emails=[WORK]), id="replace-filtered-element-with-null-removes-it"),
    pytest.param(patch({"op": "replace", "path": f"{ENTERPRISE_USER}:employeeNumber", "value": 701985}),
                 bjensen(enterprise={"employeeNumber": "701985", "department": "Tour Operations"}),
                 id="replace-extension-attribute-number-kept-as-text"),
    pytest.param(patch({"op": "replace", "path": ENTERPRISE_USER, "value": {"costCenter": "4130"}}),
                 bjensen(enterprise={**BJENSEN[ENTERPRISE_USER], "costCenter": "4130"}),
                 id="replace-extension-as-path-merges"),
    pytest.param(patch({"op": "replace", "path": "title", "value": "Tour Guide"}), BJENSEN,
                 id="replace-with-same-value-changes-nothing"),
    # attribute names are case-insensitive, URN-qualified core names allowed (RFC 7643 §2.1, RFC 7644 §3.10)
    pytest.param(patch({"op": "replace", "path": 'EMAILS[TYPE eq "work"].VALUE', "value": "b@example.com"},
                       {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:Name.GivenName",
                        "value": "Barb"}),
                 bjensen(emails=[{**WORK, "value": "b@example.com"}, HOME],
                         name={**BJENSEN["name"], "givenName": "Barb"}),
                 id="case-insensitive-and-urn-qualified-paths"),
    # operations apply in order
    pytest.param(patch({"op": "remove", "path": "emails"}, {"op": "add", "path": "emails", "value": [HOME]}),
                 bjensen(emails=[HOME]), id="operations-apply-in-order"),
]


@pytest.mark.parametrize(("body", "expected"), USER_CASES)
def test_user_patch(body, expected):
    result = run(USER, BJENSEN, body)
    assert result.attributes == expected
    assert result.changed == (expected != BJENSEN)
    assert result.members is None and result.password is None


MEMBER_CASES = [
    pytest.param(patch({"op": "add", "path": "members", "value": [
        {"display": "Babs Jensen", "$ref": f"https://example.com/v2/Users/{A}", "value": A}]}),
        MemberChanges(add=[{"value": A}]), id="rfc-add-member"),
    pytest.param(patch({"op": "add", "path": "members", "value": [{"value": A, "type": "User"}, {"value": A}]}),
                 MemberChanges(add=[{"value": A, "type": "User"}]), id="add-keeps-type-once-per-id"),
    pytest.param(patch({"op": "remove", "path": f'members[value eq "{A}"]'}), MemberChanges(remove=[A]),
                 id="rfc-remove-one-member"),
    pytest.param(patch({"op": "remove", "path": f'members[value eq "{A}" or value eq "{B}"]'}),
                 MemberChanges(remove=[A, B]), id="remove-or-of-ids"),
    pytest.param(patch({"op": "remove", "path": "members"},
                       {"op": "add", "path": "members", "value": [{"value": B}, {"value": C}]}),
                 MemberChanges(add=[{"value": B}, {"value": C}], remove_all=True), id="rfc-remove-all-then-add"),
    pytest.param(patch({"op": "replace", "path": "members", "value": [{"value": B}, {"value": C}]}),
                 MemberChanges(replace=[{"value": B}, {"value": C}]), id="rfc-replace-members"),
    pytest.param(patch({"op": "replace", "path": "members", "value": []}), MemberChanges(replace=[]),
                 id="replace-with-empty-list"),
    pytest.param(patch({"op": "remove", "path": "members", "value": []}), MemberChanges(),
                 id="remove-with-empty-value-list-removes-no-one"),
    pytest.param(patch({"op": "add", "path": "members", "value": [{"value": A}]},
                       {"op": "remove", "path": f'members[value eq "{A}"]'}),
                 MemberChanges(remove=[A]), id="added-then-removed"),
    pytest.param(patch({"op": "remove", "path": f'members[value eq "{A}"]'},
                       {"op": "add", "path": "members", "value": [{"value": A}]}),
                 MemberChanges(add=[{"value": A}], remove=[A]), id="removed-then-added"),
    pytest.param(patch({"op": "replace", "path": "members", "value": [{"value": A}, {"value": B}]},
                       {"op": "remove", "path": f'members[value eq "{A}"]'},
                       {"op": "add", "path": "members", "value": [{"value": C}]}),
                 MemberChanges(replace=[{"value": B}, {"value": C}]), id="changes-after-replace-fold-into-it"),
    pytest.param(patch({"op": "add", "path": "members", "value": [{"value": A, "type": "Group"}, {"value": B}]},
                       {"op": "remove", "path": 'members[type eq "Group"]'}),
                 None, id="filter-removal-also-drops-pending-adds"),
    pytest.param(patch({"op": "add", "value": {"members": [{"value": A}], "displayName": "Guides"}}),
                 MemberChanges(add=[{"value": A}]), id="pathless-members"),
]


@pytest.mark.parametrize(("body", "expected"), MEMBER_CASES)
def test_member_changes(body, expected):
    result = run(GROUP, TOUR_GUIDES, body, GROUP_ID)
    if expected is None:  # the filter node is checked by what it left, not by its identity
        assert result.members.add == [{"value": B}] and len(result.members.remove_matching) == 1
    else:
        assert result.members == expected
    assert "members" not in result.attributes


def test_atomic_a_failing_operation_applies_nothing():
    before = copy.deepcopy(BJENSEN)
    body = patch({"op": "replace", "path": "title", "value": "Chief"}, {"op": "remove", "path": "emails"},
                 {"op": "replace", "path": "active", "value": "maybe"})
    with pytest.raises(InvalidValue) as caught:
        apply_patch(USER, before, body, resource_id=USER_ID)
    assert caught.value.detail.startswith("Operations[2]: ")
    assert before == BJENSEN


ERROR_CASES = [
    # the envelope
    pytest.param(USER, ["not", "an", "object"], InvalidSyntax, "JSON object", id="body-not-object"),
    pytest.param(USER, {"schemas": [PATCH_OP]}, InvalidValue, 'no "Operations"', id="operations-missing"),
    pytest.param(USER, {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "title": "x"}, InvalidValue,
                 'no "Operations"', id="scim2-resource-instead-of-patchop"),
    pytest.param(USER, {"op": "replace", "path": "title", "value": "x"}, InvalidSyntax, "single operation",
                 id="operation-without-envelope"),
    pytest.param(USER, {"schemas": [PATCH_OP], "Operations": {"op": "add"}}, InvalidSyntax, "array",
                 id="operations-not-array"),
    pytest.param(USER, patch(), InvalidValue, "at least one operation", id="operations-empty"),
    pytest.param(USER, patch("replace"), InvalidSyntax, "Operations[0] must be an object", id="operation-not-object"),
    pytest.param(USER, patch({"op": "add", "path": "title", "value": "x"}, {"op": "add", "path": "title", "value": "y"},
                             {"op": "merge", "path": "title", "value": "z"}),
                 InvalidSyntax, 'Operations[2].op must be add, remove or replace, not "merge"', id="unknown-op"),
    pytest.param(USER, patch({"path": "title", "value": "x"}), InvalidSyntax, "not missing", id="op-missing"),
    pytest.param(USER, patch({"op": "add", "path": 7, "value": "x"}), InvalidSyntax, "Operations[0].path",
                 id="path-not-string"),
    pytest.param(USER, patch({"op": "replace", "path": "title"}), InvalidValue, 'needs a "value"',
                 id="replace-without-value"),
    pytest.param(USER, patch({"op": "add", "value": "Tour Guide"}), InvalidValue, "must be an object",
                 id="pathless-value-not-object"),
    # targets
    pytest.param(USER, patch({"op": "remove"}), NoTarget, 'needs a "path"', id="remove-without-path"),
    pytest.param(USER, patch({"op": "replace", "path": 'emails[value co "nowhere"].value', "value": "x@y.z"}),
                 NoTarget, "matches the filter", id="replace-filter-matching-nothing"),
    pytest.param(USER, patch({"op": "add", "path": 'emails[type eq "home" or type eq "other"].display',
                              "value": "x"}, {"op": "remove", "path": "emails"},
                             {"op": "add", "path": 'emails[type eq "home" or type eq "other"].display',
                              "value": "x"}),
                 NoTarget, "Operations[2]", id="or-filter-cannot-describe-a-new-value"),
    pytest.param(USER, patch({"op": "replace", "path": 'emails[type eq "other"].primary', "value": True}),
                 NoTarget, "matches the filter", id="no-value-to-create-from-descriptive-sub-attributes"),
    pytest.param(USER, patch({"op": "replace", "path": "favouriteColour", "value": "teal"}), InvalidPath,
                 "favouriteColour", id="unknown-attribute"),
    pytest.param(USER, patch({"op": "replace", "path": "name.nickname", "value": "x"}), InvalidPath, "nickname",
                 id="unknown-sub-attribute"),
    pytest.param(USER, patch({"op": "replace", "path": "title[value eq \"x\"]", "value": "x"}), InvalidPath,
                 "not a multi-valued attribute", id="filter-on-single-valued"),
    pytest.param(USER, patch({"op": "remove", "path": "emails[type eq]"}), InvalidFilter, "Operations[0]",
                 id="broken-filter"),
    pytest.param(USER, patch({"op": "add", "path": "members", "value": [{"value": A}]}), InvalidPath, "members",
                 id="users-have-no-members"),
    # mutability and required attributes
    pytest.param(USER, patch({"op": "replace", "path": "id", "value": "x"}), Mutability, "read-only",
                 id="replace-id"),
    pytest.param(USER, patch({"op": "replace", "path": "meta.lastModified", "value": "2020-01-01T00:00:00Z"}),
                 Mutability, "meta.lastModified", id="replace-meta-sub-attribute"),
    pytest.param(USER, patch({"op": "add", "path": "groups", "value": [{"value": GROUP_ID}]}), Mutability,
                 "groups", id="add-groups"),
    pytest.param(USER, patch({"op": "replace", "path": f"{ENTERPRISE_USER}:manager.displayName", "value": "x"}),
                 Mutability, "manager.displayName", id="replace-read-only-sub-attribute"),
    pytest.param(USER, patch({"op": "add", "value": {"id": "another"}}), Mutability, "cannot be changed",
                 id="pathless-different-id"),
    pytest.param(USER, patch({"op": "remove", "path": "userName"}), InvalidValue, '"userName" is required',
                 id="remove-required"),
    pytest.param(GROUP, patch({"op": "replace", "value": {"displayName": ""}}), InvalidValue,
                 '"displayName" is required', id="blank-required"),
    # values
    pytest.param(USER, patch({"op": "replace", "path": "active", "value": "maybe"}), InvalidValue, "boolean",
                 id="not-a-boolean"),
    pytest.param(USER, patch({"op": "replace", "path": "name", "value": "Barbara"}), InvalidValue, "object",
                 id="complex-given-a-string"),
    pytest.param(USER, patch({"op": "replace", "path": 'emails[type eq "work"]', "value": [HOME, WORK]}),
                 InvalidValue, "one object", id="filtered-element-given-a-list"),
    pytest.param(USER, patch({"op": "replace", "path": "password", "value": 1234}), InvalidValue, "password",
                 id="password-not-string"),
    pytest.param(GROUP, patch({"op": "add", "path": "members", "value": [{"display": "no id"}]}), InvalidValue,
                 '"value"', id="member-without-value"),
    pytest.param(GROUP, patch({"op": "add", "path": f'members[value eq "{A}"]', "value": [{"value": A}]}),
                 InvalidPath, "selects members to remove", id="member-filter-on-add"),
    pytest.param(GROUP, patch({"op": "replace", "path": "members.display", "value": "x"}), InvalidPath,
                 "member sub-attributes", id="member-sub-attribute"),
]


# The scimType RFC 7644 §3.12 names for each refusal, spelled out rather than read from the classes.
SCIM_TYPES = {InvalidSyntax: "invalidSyntax", InvalidValue: "invalidValue", InvalidPath: "invalidPath",
              InvalidFilter: "invalidFilter", NoTarget: "noTarget", Mutability: "mutability"}


@pytest.mark.parametrize(("rtype", "body", "error", "detail"), ERROR_CASES)
def test_refused(rtype, body, error, detail):
    before = copy.deepcopy(BJENSEN if rtype is USER else TOUR_GUIDES)
    snapshot = copy.deepcopy(before)
    with pytest.raises(error) as caught:
        apply_patch(rtype, before, body, resource_id=USER_ID)
    assert type(caught.value) is error
    assert caught.value.scim_type == SCIM_TYPES[error] and caught.value.status == 400
    assert detail in caught.value.detail
    assert before == snapshot


def test_full_push_of_a_large_group_folds_to_one_member_list():
    # Okta's "full push" replaces the whole list (docs/identity-providers.md §2.3); groups reach 50,000 members.
    everyone = [{"value": f"user-{i:05}", "display": f"user{i}@example.com"} for i in range(50_000)]
    body = patch({"op": "replace", "path": "members", "value": everyone},
                 {"op": "remove", "path": "members", "value": everyone[::2]},
                 {"op": "add", "path": "members", "value": everyone[:10]})
    changes = run(GROUP, TOUR_GUIDES, body, GROUP_ID).members
    expected_ids = [m["value"] for m in everyone[1::2]] + [f"user-{i:05}" for i in range(0, 10, 2)]
    assert [m["value"] for m in changes.replace] == expected_ids
    assert (changes.add, changes.remove, changes.remove_all) == ([], [], False)
