"""What the SCIM handlers share: the store, the token verifier, the limits, and the response shape."""

from __future__ import annotations

import json
from dataclasses import dataclass

from flask import Response, current_app, g, request

from scim_bridge.auth import TokenVerifier
from scim_bridge.scim.documents import Limits
from scim_bridge.store.repository import Repository
from scim_bridge.sync.service import Sync

PREFIX = "/scim/v2"
SCIM_MEDIA_TYPE = "application/scim+json"


@dataclass
class ScimContext:
    repository: Repository
    verifier: TokenVerifier
    limits: Limits
    base_url: str | None = None  # configured public URL of the SCIM API, else taken from the request
    sync: Sync | None = None  # None when no target is configured


def delivered(queued) -> None:
    """After a committed write: let delivery run, waiting up to delivery.wait_seconds for it."""
    sync = context().sync
    if sync is not None:
        sync.changed(queued)


def context() -> ScimContext:
    return current_app.extensions["scim_bridge"]


def base_url() -> str:
    configured = context().base_url
    return configured.rstrip("/") if configured else request.host_url.rstrip("/") + PREFIX


def actor() -> str:
    """The name of the token that authenticated this request (for the audit log)."""
    return g.get("actor", "anonymous")


def response_media_type() -> str:
    # OneLogin's guide asks for application/json responses, RFC 7644 §8.1 for application/scim+json:
    # answer application/json only to a client that accepts it and not the SCIM type.
    accepted = request.accept_mimetypes
    if accepted.best_match([SCIM_MEDIA_TYPE, "application/json"]) == "application/json" and (
        accepted[SCIM_MEDIA_TYPE] < accepted["application/json"]
    ):
        return "application/json"
    return SCIM_MEDIA_TYPE


def scim_response(body: dict | None, status: int = 200, headers: dict | None = None) -> Response:
    payload = json.dumps(body, ensure_ascii=False) if body is not None else ""
    response = Response(payload, status=status, headers=headers or {})
    if body is not None:
        response.mimetype = response_media_type()
        response.charset = "utf-8"
    return response
