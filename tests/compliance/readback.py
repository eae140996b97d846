"""Reading resources back after an identity provider's requests, to assert what the bridge stored.

The tests send each provider's request bodies, then read every touched resource back and compare it
whole, so an attribute dropped, kept by mistake or mangled on the way shows up, not just a status.
"""

from __future__ import annotations

from tests.support.idp_requests import CORE_GROUP, CORE_USER, ENTERPRISE_USER, ERROR, LIST_RESPONSE, PATCH_OP

BASE = "http://localhost/scim/v2"  # Flask's test client serves as http://localhost

__all__ = ["BASE", "CORE_GROUP", "CORE_USER", "ENTERPRISE_USER", "ERROR", "LIST_RESPONSE", "PATCH_OP",
           "created", "listed_ids", "member", "membership", "patched", "read_back"]


def read_back(scim, path: str) -> dict:
    """GET ``path`` (``/Users/<id>``, optionally with a query); the body without ``meta``, once its
    resource type, location and version have been checked against the request and the ETag."""
    reply = scim.get(path)
    assert reply.status == 200, (path, reply.status, reply.body)
    body = dict(reply.body)
    meta = body.pop("meta")
    resource_path = path.split("?")[0]
    assert meta["resourceType"] == ("User" if resource_path.startswith("/Users/") else "Group")
    assert meta["location"] == BASE + resource_path
    assert meta["version"] == reply.headers["ETag"]
    assert meta["created"] <= meta["lastModified"]
    return body


def created(reply) -> str:
    """The id of a resource a POST created, after checking the 201 and its Location."""
    assert reply.status == 201, (reply.status, reply.body)
    assert reply.headers["Location"] == reply.body["meta"]["location"]
    return reply.body["id"]


def listed_ids(scim, path: str) -> list[str]:
    """The ids a list or filter request returns, after checking the ListResponse envelope."""
    reply = scim.get(path)
    assert reply.status == 200, (path, reply.status, reply.body)
    body = reply.body
    assert body["schemas"] == [LIST_RESPONSE]
    assert isinstance(body["totalResults"], int) and isinstance(body["itemsPerPage"], int)
    assert isinstance(body["startIndex"], int)
    assert body["itemsPerPage"] == len(body["Resources"])
    return [resource["id"] for resource in body["Resources"]]


def patched(scim, path: str, operations: list[dict], status: int) -> dict | None:
    reply = scim.patch(path, operations)
    assert reply.status == status, (path, operations, reply.status, reply.body)
    return reply.body


def member(user_id: str) -> dict:
    """A user as a group member renders it."""
    return {"value": user_id, "type": "User", "$ref": f"{BASE}/Users/{user_id}"}


def membership(group_id: str, display_name: str) -> dict:
    """A group as a user's read-only ``groups`` renders it (RFC 7643 §4.1.2)."""
    return {"value": group_id, "display": display_name, "type": "direct", "$ref": f"{BASE}/Groups/{group_id}"}
