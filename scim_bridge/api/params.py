"""Reading SCIM requests: JSON bodies, media types, and list parameters from a query or a .search body."""

from __future__ import annotations

import json
from dataclasses import dataclass

from flask import Request

from scim_bridge.errors import InvalidSyntax, InvalidValue, UnsupportedMediaType
from scim_bridge.scim.documents import Limits
from scim_bridge.scim.filter import Node, parse_filter
from scim_bridge.scim.limits import MAX_JSON_DEPTH, MAX_START_INDEX, check_document
from scim_bridge.scim.projection import Projection, parse_projection
from scim_bridge.scim.schemas import ResourceType

# RFC 7644 §3.1 names application/scim+json; Okta's SPEC test POSTs application/json.
ACCEPTED_MEDIA_TYPES = ("application/scim+json", "application/json")


def json_body(request: Request) -> object:
    media_type = (request.mimetype or "").lower()
    if media_type and media_type not in ACCEPTED_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type {media_type!r} is not accepted: send the body as application/scim+json "
            "(application/json is accepted too)."
        )
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise InvalidSyntax("The request body is empty: send a JSON object.")
    try:
        # RFC 8259 §8.1: JSON exchanged between systems is UTF-8 (json.loads would guess UTF-16/32).
        document = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise InvalidSyntax("The request body is not UTF-8 text: send JSON encoded as UTF-8.") from None
    except json.JSONDecodeError as exc:
        raise InvalidSyntax(
            f"The request body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    except RecursionError:
        raise InvalidSyntax(
            f"The request body nests arrays and objects more than {MAX_JSON_DEPTH} deep: send a SCIM "
            "resource or message, which nests a few levels at most."
        ) from None
    except ValueError:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise InvalidSyntax("The request body holds a number too long to read: send numbers of usual size.") \
            from None
    check_document(document)
    return document


def _no_constant(name: str):
    # NaN and Infinity are not JSON (RFC 8259 §6), though Python's decoder accepts them.
    raise InvalidSyntax(f"The request body is not valid JSON: {name} is not a JSON number.")


@dataclass(frozen=True)
class ListQuery:
    filter: Node | None
    sort_by: str | None
    descending: bool
    start_index: int
    count: int
    projection: Projection


def list_query(rtype: ResourceType, params: dict, limits: Limits) -> ListQuery:
    """RFC 7644 §3.4.2–3.4.3. ``params`` holds query arguments or a SearchRequest's members."""
    lowered = {k.lower(): v for k, v in params.items()}
    text = lowered.get("filter")
    if text is not None and not isinstance(text, str):
        raise InvalidValue('"filter" must be a string.')
    order = _text(lowered.get("sortorder"), "sortOrder") or "ascending"
    if order.lower() not in ("ascending", "descending"):
        raise InvalidValue(f'sortOrder must be "ascending" or "descending", not {order!r}.')
    start = _integer(lowered.get("startindex"), "startIndex", 1)
    if start > MAX_START_INDEX:
        raise InvalidValue(
            f"startIndex {start} is beyond the largest this server pages to ({MAX_START_INDEX}); "
            "totalResults says how many resources there are."
        )
    count = _integer(lowered.get("count"), "count", limits.default_count)
    return ListQuery(
        filter=parse_filter(text, rtype) if text and text.strip() else None,
        sort_by=_text(lowered.get("sortby"), "sortBy"),
        descending=order.lower() == "descending",
        # RFC 7644 §3.4.2.4: a startIndex below 1 is taken as 1, a negative count as 0; a count
        # above the advertised filter.maxResults is capped rather than refused.
        start_index=max(start, 1),
        count=min(max(count, 0), limits.max_results),
        projection=projection(rtype, lowered.get("attributes"), lowered.get("excludedattributes")),
    )


def projection(rtype: ResourceType, attributes, excluded) -> Projection:
    return parse_projection(rtype, _names(attributes, "attributes"), _names(excluded, "excludedAttributes"))


def _names(value, name: str) -> str | None:
    """Attribute lists: comma-separated in a query, a JSON array in a SearchRequest."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise InvalidValue(f'"{name}" must be a list of attribute names.')


def _text(value, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise InvalidValue(f'"{name}" must be a string.')


def _integer(value, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise InvalidValue(f"{name} must be an integer, not a boolean.")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise InvalidValue(f"{name} must be an integer, not {str(value)[:40]!r}.") from None
