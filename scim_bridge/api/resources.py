"""SCIM resource endpoints, the same for Users and Groups: list, search, create, read, replace, patch, delete.

Handlers stay thin: read the request, call scim/ and the repository, render. Every error is raised
and leaves through the one boundary. A PATCH runs one way (docs/architecture.md, "Layers and the way
a request flows"): this module parses, ``scim/patch.py`` applies the operations to the state the
store's unit of work read, and the same unit of work writes the result (attributes and a member
delta of user ids) and commits.
"""

from __future__ import annotations

from functools import partial

from flask import Blueprint, request

from scim_bridge.api.context import actor, base_url, context, delivered, scim_response
from scim_bridge.api.params import json_body, list_query, projection
from scim_bridge.errors import InvalidValue
from scim_bridge.scim.documents import SEARCH_REQUEST, list_response
from scim_bridge.scim.members import user_ids
from scim_bridge.scim.patch import MemberChanges, apply_patch
from scim_bridge.scim.projection import Projection
from scim_bridge.scim.resources import Meta, etag, parse_resource, render
from scim_bridge.scim.schemas import GROUP, USER, ResourceType
from scim_bridge.store.members import MembershipDelta
from scim_bridge.store.repository import Edit, Record, Repository, version_matches


def register(bp: Blueprint) -> None:
    for rtype in (USER, GROUP):
        name, path = rtype.name.lower(), rtype.endpoint
        bp.add_url_rule(path, f"list_{name}", partial(list_resources, rtype), methods=["GET"])
        bp.add_url_rule(path, f"create_{name}", partial(create, rtype), methods=["POST"])
        bp.add_url_rule(f"{path}/.search", f"search_{name}", partial(search, rtype), methods=["POST"])
        item = f"{path}/<resource_id>"
        bp.add_url_rule(item, f"get_{name}", partial(read, rtype), methods=["GET"])
        bp.add_url_rule(item, f"replace_{name}", partial(replace, rtype), methods=["PUT"])
        bp.add_url_rule(item, f"patch_{name}", partial(patch, rtype), methods=["PATCH"])
        bp.add_url_rule(item, f"delete_{name}", partial(delete, rtype), methods=["DELETE"])
    bp.add_url_rule("/.search", "search_all", search_all, methods=["POST"])


def _render(record: Record) -> dict:
    base = base_url()
    meta = Meta(
        created=_iso(record.created),
        last_modified=_iso(record.last_modified),
        version=record.version,
        location=f"{base}{record.rtype.endpoint}/{record.id}",
    )
    members = groups = None
    if record.members:
        members = [{**m, "$ref": f"{base}/Users/{m['value']}"} for m in record.members]
    if record.groups:
        groups = [{**g, "$ref": f"{base}/Groups/{g['value']}"} for g in record.groups]
    extensions = None
    if record.provisioning is not None:
        extensions = {record.rtype.provisioning.id: {"targets": record.provisioning}}
    return render(record.rtype, record.id, record.attributes, meta, members=members, groups=groups,
                  extensions=extensions)


def _iso(moment) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _related(rtype: ResourceType, proj: Projection) -> bool:
    return proj.wants("members" if rtype is GROUP else "groups")


def _status(rtype: ResourceType, proj: Projection) -> bool:
    """The provisioning state is read only when ``attributes`` asks for it (returned "request")."""
    return proj.requests(rtype.provisioning.id)


def _one(record: Record, status: int = 200, proj: Projection | None = None):
    if proj is not None and record.provisioning is None and _status(record.rtype, proj):
        # After a write, as delivery left it by the time the answer goes (decision 1's wait).
        record.provisioning = context().repository.provisioning(record.rtype, [record.id])[record.id]
    body = _render(record)
    headers = {"ETag": body["meta"]["version"]}
    if status == 201:
        headers["Location"] = body["meta"]["location"]
    return scim_response(proj.apply(body) if proj else body, status, headers)


def _item_projection(rtype: ResourceType) -> Projection:
    return projection(rtype, request.args.get("attributes"), request.args.get("excludedAttributes"))


def _list(rtype: ResourceType, params: dict):
    query = list_query(rtype, params, context().limits)
    total, records = context().repository.search(
        rtype,
        query.filter,
        sort_by=query.sort_by,
        descending=query.descending,
        start_index=query.start_index,
        count=query.count,
        with_related=_related(rtype, query.projection),
        with_status=_status(rtype, query.projection),
    )
    resources = [query.projection.apply(_render(r)) for r in records]
    return scim_response(list_response(resources, total=total, start_index=query.start_index))


def list_resources(rtype: ResourceType):
    return _list(rtype, request.args.to_dict())


def _search_params(body: object) -> dict:
    if not isinstance(body, dict):
        raise InvalidValue(f"A search request must be a JSON object with the schema {SEARCH_REQUEST}.")
    return {k: v for k, v in body.items() if k != "schemas"}


def search(rtype: ResourceType):
    return _list(rtype, _search_params(json_body(request)))


def search_all():
    """POST /.search at the root (RFC 7644 §3.4.3): Users, then Groups, paged as one list."""
    params = _search_params(json_body(request))
    limits = context().limits
    queries = {rtype: list_query(rtype, params, limits) for rtype in (USER, GROUP)}
    first = queries[USER]
    resources, total, skip, room = [], 0, first.start_index - 1, first.count
    for rtype, query in queries.items():
        count, records = context().repository.search(
            rtype, query.filter, sort_by=query.sort_by, descending=query.descending,
            start_index=skip + 1, count=room, with_related=_related(rtype, query.projection),
            with_status=_status(rtype, query.projection),
        )
        total += count
        resources += [query.projection.apply(_render(r)) for r in records]
        skip, room = max(skip - count, 0), room - len(records)
    return scim_response(list_response(resources, total=total, start_index=first.start_index))


def read(rtype: ResourceType, resource_id: str):
    proj = _item_projection(rtype)
    record = context().repository.get(rtype, resource_id, with_related=_related(rtype, proj),
                                      with_status=_status(rtype, proj))
    # RFC 7644 §3.14: a client holding the current version gets 304 and no body. RFC 7232 §3.2 compares
    # If-None-Match weakly: "1", W/"1" and * all name version 1.
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match and version_matches(if_none_match, record.version):
        return scim_response(None, 304, {"ETag": etag(record.version)})
    return _one(record, proj=proj)


def create(rtype: ResourceType):
    record = create_record(context().repository, rtype, json_body(request), actor())
    delivered(record.queued, record.claimed)
    return _one(record, 201, _item_projection(rtype))


def replace(rtype: ResourceType, resource_id: str):
    proj = _item_projection(rtype)
    record = replace_record(context().repository, rtype, resource_id, json_body(request), actor(),
                            if_match=request.headers.get("If-Match"), with_related=_related(rtype, proj))
    delivered(record.queued, record.claimed)
    return _one(record, proj=proj)


def patch(rtype: ResourceType, resource_id: str):
    body = json_body(request)
    proj = _item_projection(rtype)
    wants_body = rtype is USER or "attributes" in request.args or "excludedAttributes" in request.args
    record = patch_record(context().repository, rtype, resource_id, body, actor(),
                          if_match=request.headers.get("If-Match"), with_related=wants_body and _related(rtype, proj))
    delivered(record.queued, record.claimed)
    if not wants_body:
        # Entra asks for 204 on group PATCH rather than a list of every member (RFC 7644 §3.5.2
        # allows either); the ETag still tells the client the new version.
        return scim_response(None, 204, {"ETag": etag(record.version)})
    return _one(record, proj=proj)


# -- the writes, shared with /Bulk (api/bulk.py) -------------------------------------------------


def create_record(store: Repository, rtype: ResourceType, body: object, who: str) -> Record:
    incoming = parse_resource(rtype, body)
    return store.create(rtype, incoming.attributes, who, members=user_ids(incoming.members or ()))


def replace_record(store: Repository, rtype: ResourceType, resource_id: str, body: object, who: str, *,
                   if_match: str | None, with_related: bool) -> Record:
    incoming = parse_resource(rtype, body)
    members = None if incoming.members is None else user_ids(incoming.members)
    return store.replace(rtype, resource_id, incoming.attributes, who, members=members, if_match=if_match,
                         with_related=with_related)


def patch_record(store: Repository, rtype: ResourceType, resource_id: str, body: object, who: str, *,
                 if_match: str | None, with_related: bool) -> Record:
    """Applied to the state read inside the store's transaction, on the locked row: concurrent PATCHes
    of one group queue, none loses another's members, and If-Match is checked on that row."""
    with store.editing(rtype, resource_id, who, if_match=if_match, with_related=with_related) as edit:
        result = apply_patch(rtype, edit.attributes, body, resource_id=resource_id)
        return edit.save(result.attributes, _membership(result.members, edit))


def _membership(changes: MemberChanges | None, edit: Edit) -> MembershipDelta | None:
    """A PATCH's member changes as the store applies them: user ids, member filters resolved on the
    group's current members (read only when a filter needs them)."""
    if changes is None:
        return None
    if changes.replace is not None:
        return MembershipDelta(replace=user_ids(changes.replace))
    selected = changes.matching(edit.members()) if changes.remove_matching else []
    return MembershipDelta(clear=changes.remove_all, remove=[*changes.remove, *selected], add=user_ids(changes.add))


def delete(rtype: ResourceType, resource_id: str):
    deleted = context().repository.delete(rtype, resource_id, actor(), if_match=request.headers.get("If-Match"))
    delivered(deleted.queued, deleted.claimed)
    return scim_response(None, 204)
