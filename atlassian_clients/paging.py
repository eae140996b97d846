"""The products' paging envelopes, as one loop and one "where next" rule per envelope.

Each rule takes a decoded page and the position it was fetched at, and returns the page's items
and the next position, or ``None`` when this was the last page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Position = Any  # an offset, an opaque cursor, or None for the first / no further page
NextRule = Callable[[Any, Any], tuple[list[Any], Position]]


def pages(fetch: Callable[[Any], Any], next_rule: NextRule, first: Position = 0) -> Iterator[Any]:
    """Yield every item of every page, fetching the next page only when the caller gets there.

    ``first`` is the position of the first page: an offset, or ``None`` for "no cursor yet".
    """
    position = first
    while True:
        page = fetch(position)
        items, following = next_rule(page, position)
        yield from items
        # A product that answers the same position again would loop forever; stop instead.
        if following is None or following == position:
            return
        position = following


def bitbucket_page(page: dict, start: int) -> tuple[list[Any], Position]:
    """``{"values","isLastPage","nextPageStart"}`` (Bitbucket paged API, docs/products.md §4.12)."""
    values = page.get("values") or []
    if page.get("isLastPage", True) or not values:
        return values, None
    return values, page.get("nextPageStart", start + len(values))


def confluence_page(page: dict, start: int) -> tuple[list[Any], Position]:
    """``{"results","start","limit","size","_links":{"next"}}``.

    ``_links.next`` marks a further page. A full page (as many results as the ``limit`` the product
    applied, which may be below the one asked for) without it is followed too, since the link is
    the product's courtesy and a full page is its own evidence.
    """
    results = page.get("results") or []
    if not results:
        return results, None
    has_next = "next" in (page.get("_links") or {})
    limit = page.get("limit")
    full = isinstance(limit, int | float) and len(results) >= limit
    return results, (start + len(results)) if has_next or full else None


def jira_page(page: dict, start: int) -> tuple[list[Any], Position]:
    """Jira's offset page ``{"values","startAt","maxResults","isLast"}`` (``/group/member``)."""
    values = page.get("values") or []
    if page.get("isLast", True) or not values:
        return values, None
    return values, start + len(values)


def jira_cursor_page(page: dict, cursor: str | None) -> tuple[list[Any], Position]:
    """Jira's stream page ``{"values","isLast","nextCursor"}`` (``/user/list``, 10.3+).

    The cursor is opaque ("not part of the API"): it is passed back exactly as received.
    """
    values = page.get("values") or []
    if page.get("isLast", True) or page.get("nextCursor") is None:
        return values, None
    return values, page["nextCursor"]


def plain_list_page(page_size: int) -> NextRule:
    """A bare JSON list (Jira ``/user/search``): a short page is the last one."""

    def rule(page: list, start: int) -> tuple[list[Any], Position]:
        return page, (start + len(page)) if len(page) >= page_size else None

    return rule


def crowd_page(entities: str, page_size: int) -> NextRule:
    """Crowd's ``{"expand", "users" | "groups": [...]}`` (docs/products.md §5.4): no total and no
    last-page mark, so a page shorter than the ``max-results`` asked for is the last."""

    def rule(page: dict, start: int) -> tuple[list[Any], Position]:
        items = page.get(entities) or []
        return items, (start + len(items)) if len(items) >= page_size else None

    return rule
