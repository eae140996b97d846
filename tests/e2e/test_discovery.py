"""Discovery documents describe exactly what the bridge supports (RFC 7644 §4)."""

import pytest

from tests.support.bridge import ScimClient, bridge_app
from tests.support.idp_requests import CORE_GROUP, CORE_USER, ENTERPRISE_USER

PROVISIONING_USER = "urn:scim-bridge:params:scim:schemas:extension:provisioning:2.0:User"
PROVISIONING_GROUP = "urn:scim-bridge:params:scim:schemas:extension:provisioning:2.0:Group"


def test_service_provider_config_advertises_the_enforced_limits(engine):
    scim = ScimClient(bridge_app(engine, scim={"max_results": 2, "bulk_max_operations": 50}))
    body = scim.get("/ServiceProviderConfig").body
    # The bulk limits /Bulk enforces (tests/e2e/test_bulk.py); the payload limit's default here.
    assert body["bulk"] == {"supported": True, "maxOperations": 50, "maxPayloadSize": 1_048_576}
    assert body["filter"] == {"supported": True, "maxResults": 2}
    for i in range(3):
        assert scim.post("/Users", {"userName": f"u{i}@example.com"}).status == 201
    # The advertised maxResults is the cap a list or filter actually answers with (RFC 7644 §5).
    capped = scim.get('/Users?filter=userName ew "@example.com"&count=500').body
    assert (capped["totalResults"], capped["itemsPerPage"]) == (3, 2)
    assert body["patch"]["supported"] and body["sort"]["supported"] and body["etag"]["supported"]
    # Passwords are accepted and dropped, never sent to a product: changing one is not offered.
    assert body["changePassword"] == {"supported": False}
    assert body["authenticationSchemes"][0]["type"] == "oauthbearertoken"


def test_resource_types_name_their_schemas_and_extensions(scim):
    listed = scim.get("/ResourceTypes").body
    assert listed["totalResults"] == 2
    user = scim.get("/ResourceTypes/user").body
    assert user["endpoint"] == "/Users" and user["schema"] == CORE_USER
    assert user["schemaExtensions"] == [{"schema": ENTERPRISE_USER, "required": False},
                                        {"schema": PROVISIONING_USER, "required": False}]
    group = scim.get("/ResourceTypes/Group").body
    assert group["schemaExtensions"] == [{"schema": PROVISIONING_GROUP, "required": False}]
    assert {t["id"]: t.get("schemaExtensions") for t in listed["Resources"]} == {
        "User": user["schemaExtensions"], "Group": group["schemaExtensions"]}
    assert scim.get("/ResourceTypes/Widget").status == 404


# The attributes RFC 7643 defines: §4.1 (User), §4.3 (enterprise extension), §4.2 (Group).
RFC_7643_ATTRIBUTES = {
    CORE_USER: {"userName", "name", "displayName", "nickName", "profileUrl", "title", "userType",
                "preferredLanguage", "locale", "timezone", "active", "password", "emails", "phoneNumbers", "ims",
                "photos", "addresses", "groups", "entitlements", "roles", "x509Certificates"},
    ENTERPRISE_USER: {"employeeNumber", "costCenter", "organization", "division", "department", "manager"},
    CORE_GROUP: {"displayName", "members"},
}


def test_schemas_describe_every_accepted_attribute(scim):
    listed = scim.get("/Schemas").body
    assert {s["id"] for s in listed["Resources"]} == {CORE_USER, ENTERPRISE_USER, CORE_GROUP, PROVISIONING_USER,
                                                      PROVISIONING_GROUP}
    for schema, names in RFC_7643_ATTRIBUTES.items():
        assert {a["name"] for a in scim.get(f"/Schemas/{schema}").body["attributes"]} == names, schema
    user = scim.get(f"/Schemas/{CORE_USER}").body
    by_name = {a["name"]: a for a in user["attributes"]}
    assert by_name["userName"]["uniqueness"] == "server" and by_name["userName"]["caseExact"] is False
    assert by_name["password"]["returned"] == "never" and by_name["password"]["mutability"] == "writeOnly"
    assert by_name["groups"]["mutability"] == "readOnly"
    assert {s["name"] for s in by_name["emails"]["subAttributes"]} == {"value", "display", "type", "primary"}
    manager = next(a for a in scim.get(f"/Schemas/{ENTERPRISE_USER}").body["attributes"] if a["name"] == "manager")
    assert {s["name"] for s in manager["subAttributes"]} == {"value", "$ref", "displayName"}
    assert scim.get("/Schemas/urn:nope").status == 404


def _every_attribute(attributes: list[dict]):
    for attribute in attributes:
        yield attribute
        yield from _every_attribute(attribute.get("subAttributes", []))


@pytest.mark.parametrize(("urn", "remote"), [(PROVISIONING_USER, "userName"), (PROVISIONING_GROUP, "groupName")])
def test_the_provisioning_extension_is_read_only_and_returned_only_on_request(scim, urn, remote):
    """An identity provider that reads /Schemas learns it never receives the extension unless it asks
    (returned "request") and must not send it (readOnly) — docs/provisioning-status.md."""
    listed = {s["id"]: s for s in scim.get("/Schemas").body["Resources"]}
    document = scim.get(f"/Schemas/{urn}").body
    assert listed[urn] == document and document["id"] == urn
    (targets,) = document["attributes"]
    assert (targets["name"], targets["type"], targets["multiValued"]) == ("targets", "complex", True)
    assert [s["name"] for s in targets["subAttributes"]] == ["name", "state", remote, "reason", "lastError"]
    state = next(s for s in targets["subAttributes"] if s["name"] == "state")
    assert state["canonicalValues"] == ["linked", "pending", "parked", "skipped", "planned", "unlinked"]
    assert {(a["mutability"], a["returned"]) for a in _every_attribute(document["attributes"])} == {
        ("readOnly", "request")}


def test_me_is_not_implemented(scim):
    reply = scim.get("/Me")
    assert reply.status == 501 and "not supported" in reply.body["detail"]


def test_health_readiness_and_metrics_need_no_token(app, scim):
    http = app.test_client()
    assert http.get("/healthz").get_json() == {"status": "ok"}
    assert http.get("/readyz").get_json()["database"] == "ok"
    scim.get("/Users")
    metrics = http.get("/metrics").data.decode()
    assert 'scim_bridge_requests_total{method="GET",route="/scim/v2/Users",status="200"}' in metrics
    assert "scim_bridge_request_seconds_bucket" in metrics


def test_readiness_fails_when_the_database_is_gone(tmp_path):
    from scim_bridge.store.database import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'gone' / 'bridge.db'}")  # a directory that does not exist
    app = bridge_app(engine)
    reply = app.test_client().get("/readyz")
    assert reply.status_code == 503 and reply.get_json() == {"status": "unavailable", "database": "OperationalError"}
    assert app.test_client().get("/healthz").status_code == 200  # alive, only not ready
