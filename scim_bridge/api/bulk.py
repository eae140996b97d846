"""Endpoints the bridge answers but does not implement yet, each saying so (RFC 7644 §3.7, §3.11)."""

from __future__ import annotations

from flask import Blueprint

from scim_bridge.errors import NotImplementedByServer


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/Bulk", "bulk", bulk, methods=["POST"])
    bp.add_url_rule("/Me", "me", me, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])


def bulk():
    # ServiceProviderConfig advertises bulk.supported=false.
    raise NotImplementedByServer("Bulk operations are not supported: send each operation as its own request.")


def me():
    raise NotImplementedByServer(
        "/Me is not supported: bearer tokens identify an identity provider connection, not a user."
    )
