"""Discovery documents (RFC 7644 §4, RFC 7643 §5–7) and the ListResponse envelope.

They describe exactly what the bridge does, and the limits are the ones the API enforces.
"""

from __future__ import annotations

from dataclasses import dataclass

from scim_bridge.scim.schemas import RESOURCE_TYPES, SCHEMAS, Attribute, Schema

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@dataclass(frozen=True)
class Limits:
    max_results: int = 1000  # the cap on ``count``; also filter.maxResults
    max_payload_bytes: int = 1_048_576
    default_count: int = 100
    bulk_max_operations: int = 1000  # bulk.maxOperations
    bulk_max_payload_bytes: int = 1_048_576  # bulk.maxPayloadSize


def list_response(resources: list[dict], *, total: int, start_index: int) -> dict:
    """RFC 7644 §3.4.2: integers, a 1-based ``startIndex``, ``Resources`` with a capital R."""
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def service_provider_config(base_url: str, limits: Limits) -> dict:
    return {
        "schemas": [SPC_SCHEMA],
        "patch": {"supported": True},
        "bulk": {"supported": True, "maxOperations": limits.bulk_max_operations,
                 "maxPayloadSize": limits.bulk_max_payload_bytes},
        "filter": {"supported": True, "maxResults": limits.max_results},
        # Passwords are accepted and dropped: the bridge never sends one to a product (SSO set-ups).
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A long-lived bearer token per identity provider connection, sent as "
                "'Authorization: Bearer <token>'.",
                "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url}/ServiceProviderConfig",
        },
    }


def resource_type_document(name: str, base_url: str) -> dict:
    rtype = RESOURCE_TYPES[name]
    doc = {
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": rtype.name,
        "name": rtype.name,
        "endpoint": rtype.endpoint,
        "description": rtype.description,
        "schema": rtype.schema.id,
        "meta": {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/{rtype.name}"},
    }
    if rtype.extensions:
        doc["schemaExtensions"] = [{"schema": e.id, "required": False} for e in rtype.extensions]
    return doc


def schema_document(schema_id: str, base_url: str) -> dict:
    schema: Schema = SCHEMAS[schema_id]
    return {
        "schemas": [SCHEMA_SCHEMA],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": [_attribute_document(a) for a in schema.attributes],
        "meta": {"resourceType": "Schema", "location": f"{base_url}/Schemas/{schema.id}"},
    }


def _attribute_document(attr: Attribute) -> dict:
    doc = {
        "name": attr.name,
        "type": attr.type,
        "multiValued": attr.multi_valued,
        "description": attr.description,
        "required": attr.required,
        "caseExact": attr.case_exact,
        "mutability": attr.mutability,
        "returned": attr.returned,
        "uniqueness": attr.uniqueness,
    }
    if attr.canonical_values:
        doc["canonicalValues"] = list(attr.canonical_values)
    if attr.reference_types:
        doc["referenceTypes"] = list(attr.reference_types)
    if attr.sub_attributes:
        doc["subAttributes"] = [_attribute_document(s) for s in attr.sub_attributes]
    return doc
