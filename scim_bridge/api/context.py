"""What the SCIM handlers share: the store, the token verifier, the limits, and the response shape."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import orjson
from flask import Response, current_app, g, request
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header
from werkzeug.sansio.utils import get_current_url

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


def delivered(queued, claimed=None) -> None:
    """After a committed write: let delivery run, waiting up to delivery.wait_seconds for it
    (``claimed``: the rows the write claimed in its transaction, ``Record.claimed``)."""
    sync = context().sync
    if sync is not None:
        sync.changed(queued, claimed)


def context() -> ScimContext:
    return current_app.extensions["scim_bridge"]


def base_url() -> str:
    configured = context().base_url
    return configured.rstrip("/") if configured else _base_url_of(request.scheme, request.host)


@lru_cache(maxsize=64)
def _base_url_of(scheme: str, host: str) -> str:
    # request.host_url, worked out once per host a client names rather than on every rendered resource.
    return get_current_url(scheme, host).rstrip("/") + PREFIX


def actor() -> str:
    """The name of the token that authenticated this request (for the audit log)."""
    return g.get("actor", "anonymous")


def response_media_type() -> str:
    return _media_type_for(request.headers.get("Accept"))


@lru_cache(maxsize=64)
def _media_type_for(accept: str | None) -> str:
    # OneLogin's guide asks for application/json responses, RFC 7644 §8.1 for application/scim+json:
    # answer application/json only to a client that accepts it and not the SCIM type. An identity
    # provider sends the same Accept header on every request: parsed once.
    accepted = parse_accept_header(accept, MIMEAccept)
    if accepted.best_match([SCIM_MEDIA_TYPE, "application/json"]) == "application/json" and (
        accepted[SCIM_MEDIA_TYPE] < accepted["application/json"]
    ):
        return "application/json"
    return SCIM_MEDIA_TYPE


# json.dumps with options builds an encoder per call; a rendered resource is a tree of fresh dicts and
# lists, never circular, so the check for cycles is spared too.
_ENCODER = json.JSONEncoder(ensure_ascii=False, check_circular=False)


def _body(document: dict) -> bytes:
    """The document as UTF-8 JSON, its keys in their order and non-ASCII unescaped. orjson writes it
    several times faster than the json module; what orjson refuses (an integer beyond 64 bits a client
    stored, a lone surrogate) is written by the json module as before."""
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError:
        return _ENCODER.encode(document).encode("utf-8")


def scim_response(body: dict | None, status: int = 200, headers: dict | None = None) -> Response:
    if body is None:
        return Response("", status=status, headers=headers or {})
    return Response(_body(body), status=status, headers=headers or {}, content_type=response_media_type())
