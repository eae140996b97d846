"""The provisioning extension on the pure SCIM side (docs/provisioning-status.md): advertised as
read-only and returned only on request, ignored on input, and asked for only through ``attributes``."""

from __future__ import annotations

import pytest

from scim_bridge.errors import Mutability
from scim_bridge.scim.documents import resource_type_document, schema_document
from scim_bridge.scim.filter import parse_filter
from scim_bridge.scim.patch import apply_patch
from scim_bridge.scim.projection import parse_projection
from scim_bridge.scim.resources import Meta, parse_resource, render
from scim_bridge.scim.schemas import (
    CORE_GROUP,
    CORE_USER,
    ENTERPRISE_USER,
    GROUP,
    PROVISIONING_GROUP,
    PROVISIONING_USER,
    USER,
)
from tests.support.idp_requests import PATCH_OP

FORGED = {"targets": [{"name": "jira", "state": "linked", "userName": "root"}]}
META = Meta("2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z", 1, "https://x/Users/1")


@pytest.mark.parametrize(("rtype", "urn"), [(USER, PROVISIONING_USER), (GROUP, PROVISIONING_GROUP)])
def test_each_resource_type_names_its_extension_as_optional(rtype, urn):
    assert rtype.provisioning.id == urn
    assert {"schema": urn, "required": False} in resource_type_document(rtype.name, "https://x")["schemaExtensions"]
    document = schema_document(urn, "https://x")
    (targets,) = document["attributes"]
    every = [targets, *targets["subAttributes"]]
    assert {(a["mutability"], a["returned"], a["caseExact"]) for a in every} == {("readOnly", "request", False)}


@pytest.mark.parametrize(("rtype", "body", "expected"), [
    pytest.param(USER, {"userName": "a", PROVISIONING_USER: FORGED}, {"userName": "a"}, id="user"),
    pytest.param(USER, {"userName": "a", PROVISIONING_USER: FORGED, ENTERPRISE_USER: {"department": "X"}},
                 {"userName": "a", ENTERPRISE_USER: {"department": "X"}}, id="beside-the-enterprise-extension"),
    pytest.param(GROUP, {"displayName": "G", PROVISIONING_GROUP: {"targets": [{"state": "parked"}]}},
                 {"displayName": "G"}, id="group"),
])
def test_input_carrying_it_is_taken_without_it(rtype, body, expected):
    assert parse_resource(rtype, body).attributes == expected


@pytest.mark.parametrize("operation", [
    pytest.param({"op": "replace", "value": {PROVISIONING_USER: FORGED, "title": "T"}}, id="pathless-extension"),
    pytest.param({"op": "replace", "value": {f"{PROVISIONING_USER}:targets": FORGED["targets"], "title": "T"}},
                 id="pathless-qualified-attribute"),
    pytest.param({"op": "add", "value": {"targets": FORGED["targets"], "title": "T"}}, id="pathless-unqualified"),
    pytest.param({"op": "add", "path": PROVISIONING_USER, "value": {**FORGED, "title": "ignored"}},
                 id="extension-as-path"),
    pytest.param({"op": "remove", "path": PROVISIONING_USER}, id="remove-the-extension"),
])
def test_a_patch_carrying_it_changes_nothing_of_it(operation):
    before = {"userName": "a"}
    result = apply_patch(USER, before, {"schemas": [PATCH_OP], "Operations": [operation]}, resource_id="1")
    assert PROVISIONING_USER not in result.attributes
    assert result.attributes in ({"userName": "a"}, {"userName": "a", "title": "T"})


def test_a_patch_path_naming_its_attribute_is_refused_as_read_only():
    body = {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": f"{PROVISIONING_USER}:targets", "value": FORGED["targets"]}]}
    with pytest.raises(Mutability):
        apply_patch(USER, {"userName": "a"}, body, resource_id="1")


@pytest.mark.parametrize(("attributes", "excluded", "asked"), [
    (None, None, False),
    (None, PROVISIONING_USER, False),
    (None, "emails,groups", False),
    ("userName", None, False),
    (PROVISIONING_USER, None, True),
    (PROVISIONING_USER.upper(), None, True),
    (f"userName,{PROVISIONING_USER}:targets.state", None, True),
    (f"{PROVISIONING_USER}:targets", PROVISIONING_USER, True),
    ("targets", None, False),  # an extension attribute is named with its URN
    (PROVISIONING_GROUP, None, False),  # the Group extension names nothing on a User
])
def test_only_attributes_asks_for_it(attributes, excluded, asked):
    assert parse_projection(USER, attributes, excluded).requests(PROVISIONING_USER) is asked


def test_rendered_only_when_read_and_then_listed_in_schemas():
    plain = render(USER, "1", {"userName": "a"}, META)
    assert plain["schemas"] == [CORE_USER] and PROVISIONING_USER not in plain
    states = [{"name": "jira", "state": "parked", "lastError": "no"}]
    read = render(USER, "1", {"userName": "a"}, META, extensions={PROVISIONING_USER: {"targets": states}})
    assert read["schemas"] == [CORE_USER, PROVISIONING_USER] and read[PROVISIONING_USER] == {"targets": states}
    projected = parse_projection(USER, f"{PROVISIONING_USER}:targets.state", None).apply(read)
    assert projected == {"schemas": [CORE_USER, PROVISIONING_USER], "id": "1",
                         PROVISIONING_USER: {"targets": [{"state": "parked"}]}}
    none = render(GROUP, "2", {"displayName": "G"}, META, extensions={PROVISIONING_GROUP: {"targets": []}})
    assert none["schemas"] == [CORE_GROUP] and PROVISIONING_GROUP not in none  # no target: unassigned


@pytest.mark.parametrize("text", [
    f'{PROVISIONING_USER}:targets[name eq "jira" and state eq "parked"]',
    f'{PROVISIONING_USER}:targets.lastError co "licence"',
    'targets[state eq "pending"]',  # unqualified, as filters take extension attributes (manager)
])
def test_filters_name_its_attributes(text):
    assert parse_filter(text, USER) is not None
