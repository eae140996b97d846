"""The bounds the bridge puts on SCIM input, in one place (docs/architecture.md "Input limits").

Each bound exists because something behind it has one: the store's columns hold 512 characters,
PostgreSQL refuses NUL characters and unpaired surrogates, the JSON decoder and the filter parser
recurse, SQLite refuses an expression tree deeper than 1,000, and ``OFFSET`` is a 64-bit integer.
Refusing at the door, with the RFC 7644 §3.12 ``scimType``, is what keeps a hostile or broken
request from reaching those limits as a 500. The limits an identity provider can read are advertised
in ``/ServiceProviderConfig`` (``filter.maxResults``; ``bulk.maxPayloadSize`` is /Bulk's); the rest are listed in
the architecture document.
"""

from __future__ import annotations

import re

from scim_bridge.errors import InvalidSyntax, InvalidValue, ScimError

# Characters in one string attribute value: the width of the store's columns (store/models.py), so a
# value that one database would truncate or refuse is refused on both alike.
MAX_STRING_LENGTH = 512
# Nesting of arrays and objects in a request body; SCIM resources nest three deep at most.
MAX_JSON_DEPTH = 32
# Comparisons and presence tests in one filter (SQLite builds an expression a few levels deep per term
# and refuses a tree deeper than 1,000; no identity provider sends more than a handful).
MAX_FILTER_TERMS = 100
# "(" and "not" nested in one filter.
MAX_FILTER_DEPTH = 64
# The largest startIndex: far beyond any store, and within a signed 32-bit integer.
MAX_START_INDEX = 2**31 - 1

# An unpaired UTF-16 surrogate, as json.loads decodes a lone "\ud800" escape.
SURROGATE = re.compile("[\ud800-\udfff]")


def check_string(value: str, where: str) -> str:
    """A string attribute value: within the column width."""
    if len(value) > MAX_STRING_LENGTH:
        raise InvalidValue(
            f'"{where}" is {len(value)} characters long; this server keeps at most {MAX_STRING_LENGTH} '
            "characters per value: shorten it."
        )
    return value


def check_document(document: object) -> None:
    """A decoded request body: nesting depth, and text every database can store.

    Walked without recursion, so a document nested beyond the bound is refused rather than
    exhausting the stack.
    """
    pending: list[tuple[object, int]] = [(document, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            check_text(value, "The request body")
        elif isinstance(value, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise InvalidSyntax(
                    f"The request body nests arrays and objects more than {MAX_JSON_DEPTH} deep: "
                    "send a SCIM resource or message, which nests a few levels at most."
                )
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    check_text(key, "The request body")
                pending.append((item, depth + 1))


def check_text(text: str, where: str, *, nul: type[ScimError] = InvalidValue,
               surrogate: type[ScimError] = InvalidSyntax) -> None:
    """Text that reaches the store or a query: no NUL character (PostgreSQL refuses it in text and
    JSON), no unpaired UTF-16 surrogate (no database encoding holds one)."""
    if "\x00" in text:
        raise nul(
            f"{where} contains a NUL character (\\u0000 or %00), which no SCIM value can hold: remove it."
        )
    if SURROGATE.search(text):
        raise surrogate(
            f"{where} contains an unpaired UTF-16 surrogate escape (such as \\ud800), which is not a "
            "Unicode character: send the character itself, or both halves of its surrogate pair."
        )
