"""Discovery endpoints (RFC 7644 §4): what the bridge supports, read-only."""

from __future__ import annotations

from flask import Blueprint, request

from scim_bridge.api.context import base_url, context, scim_response
from scim_bridge.errors import Forbidden, NotFound
from scim_bridge.scim import documents
from scim_bridge.scim.schemas import RESOURCE_TYPES, SCHEMAS


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/ServiceProviderConfig", "service_provider_config", service_provider_config)
    bp.add_url_rule("/ResourceTypes", "resource_types", resource_types)
    bp.add_url_rule("/ResourceTypes/<name>", "resource_type", resource_type)
    bp.add_url_rule("/Schemas", "schemas", schemas)
    bp.add_url_rule("/Schemas/<schema_id>", "schema", schema)


def _refuse_filter() -> None:
    # RFC 7644 §4: discovery endpoints are not searchable.
    if "filter" in request.args:
        raise Forbidden("Discovery endpoints do not take a filter: request the whole document.")


def service_provider_config():
    _refuse_filter()
    return scim_response(documents.service_provider_config(base_url(), context().limits))


def resource_types():
    _refuse_filter()
    docs = [documents.resource_type_document(name, base_url()) for name in RESOURCE_TYPES]
    return scim_response(documents.list_response(docs, total=len(docs), start_index=1))


def resource_type(name: str):
    found = next((n for n in RESOURCE_TYPES if n.lower() == name.lower()), None)
    if found is None:
        raise NotFound(f"No resource type {name!r}: this server has {', '.join(RESOURCE_TYPES)}.")
    return scim_response(documents.resource_type_document(found, base_url()))


def schemas():
    _refuse_filter()
    docs = [documents.schema_document(schema_id, base_url()) for schema_id in SCHEMAS]
    return scim_response(documents.list_response(docs, total=len(docs), start_index=1))


def schema(schema_id: str):
    found = next((s for s in SCHEMAS if s.lower() == schema_id.lower()), None)
    if found is None:
        raise NotFound(f"No schema {schema_id!r}: see /Schemas for the ones this server supports.")
    return scim_response(documents.schema_document(found, base_url()))
