"""SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2): text → a resolved, typed AST.

The AST (all frozen dataclasses; ``Node`` is their union):

- ``Compare(path, op, value)``: ``op`` is one of ``eq ne co sw ew gt ge lt le`` (lower case); ``value``
  is already coerced to the attribute's type: ``str`` for string, reference and binary attributes,
  ``bool``, ``int``/``float``, or a timezone-aware ``datetime`` for dateTime attributes.
- ``Present(path)``: the ``pr`` operator.
- ``And(operands)``, ``Or(operands)``: two or more operands, flattened (``a and b and c`` is one And).
- ``Not(operand)``.
- ``ValuePath(path, filter)``: ``emails[type eq "work"]``; ``path`` names the complex attribute,
  ``filter`` is relative to one of its values.

Paths are ``schemas.AttributePath`` objects in canonical spelling. At resource level they are what
``ResourceType.resolve`` returns. Inside a value filter (``ValuePath.filter``, ``PatchPath.filter``)
they are *relative*: ``AttributePath(None, <the sub-attribute>)``, so that the same evaluator reads
``element["type"]`` from one value exactly as it reads ``resource["title"]`` from a resource.

Normalisations made while parsing, so that evaluators see fewer shapes:
- a comparison on a complex attribute without a sub-attribute compares its ``value`` sub-attribute
  (``emails co "@x"``, Entra's ``manager eq "id"``);
- ``attr[filter].sub op v`` (Entra's form) becomes ``attr[filter and sub op v]``: the same value must
  satisfy both;
- ``attr eq null`` becomes ``not (attr pr)`` and ``attr ne null`` becomes ``attr pr`` (RFC 7643 §2.5:
  null means unassigned);
- an unqualified extension attribute (``manager``, ``employeeNumber``) resolves to its extension when
  no core attribute has that name, as Entra and OneLogin send them.

Evaluating a parsed filter in Python is scim/matching.py; translating it to SQL, store/query.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

from scim_bridge.errors import InvalidFilter, InvalidPath, ScimError, TooMany
from scim_bridge.scim.limits import MAX_FILTER_DEPTH, MAX_FILTER_TERMS, SURROGATE
from scim_bridge.scim.schemas import Attribute, AttributePath, ResourceType

OPERATORS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")
ORDERING = ("gt", "ge", "lt", "le")
SUBSTRING = ("co", "sw", "ew")


@dataclass(frozen=True)
class Compare:
    path: AttributePath
    op: str
    value: str | bool | int | float | datetime


@dataclass(frozen=True)
class Present:
    path: AttributePath


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class ValuePath:
    path: AttributePath
    filter: Node


Node = Compare | Present | And | Or | Not | ValuePath


@dataclass(frozen=True)
class PatchPath:
    """``attribute`` is top level (no sub-attribute); ``filter`` selects values of a multi-valued
    attribute (relative paths, as in ValuePath); ``sub_attribute`` is the part after ``.``."""

    attribute: AttributePath
    filter: Node | None = None
    sub_attribute: Attribute | None = None

    @property
    def target(self) -> AttributePath:
        """The attribute path without the filter: ``emails[type eq "work"].value`` → ``emails.value``."""
        return AttributePath(self.attribute.urn, self.attribute.attribute, self.sub_attribute)


def parse_filter(text: str, rtype: ResourceType) -> Node:
    # The look-up an identity provider makes before each write, ``userName eq "alice@example.com"``,
    # with a quoted value free of escapes: the attribute is resolved once per name by the general
    # parser (``_string_equality``), the value taken as is, which is what the parser would make of it.
    found = _STRING_EQUALITY.fullmatch(text)
    if found is not None:
        path, value = _string_equality(found.group(1), rtype), found.group(2)
        if path is not None and "\x00" not in value and not SURROGATE.search(value):
            return Compare(path, "eq", value)
    return _parse_filter(text, rtype)


_STRING_EQUALITY = re.compile(r'\s*([A-Za-z$][A-Za-z0-9_:$.\-]*)\s+[eE][qQ]\s*"([^"\\]*)"\s*')


# name, id(type) -> (type, path). Keyed by the type's identity: hashing a ResourceType hashes every
# attribute of its schemas, which would cost more than the parse it saves.
_STRING_EQUALITY_PATHS: dict[tuple[str, int], tuple[ResourceType, AttributePath | None]] = {}


def _string_equality(name: str, rtype: ResourceType) -> AttributePath | None:
    key = (name, id(rtype))
    found = _STRING_EQUALITY_PATHS.get(key)
    if found is None or found[0] is not rtype:
        if len(_STRING_EQUALITY_PATHS) >= 256:  # names come from clients: bounded
            _STRING_EQUALITY_PATHS.clear()
        found = _STRING_EQUALITY_PATHS[key] = (rtype, _string_equality_path(name, rtype))
    return found[1]


def _string_equality_path(name: str, rtype: ResourceType) -> AttributePath | None:
    """The path ``name eq "..."`` compares when it is a string comparison (string, reference or binary
    attribute), else None: other types coerce the value, and other names (``not``) parse otherwise."""
    try:
        node = _parse_filter(f'{name} eq ""', rtype)
    except ScimError:
        return None
    if isinstance(node, Compare) and node.path.target.type in ("string", "reference", "binary"):
        return node.path
    return None


def _parse_filter(text: str, rtype: ResourceType) -> Node:
    parser = _Parser(text, rtype, InvalidFilter)
    parser.skip_ws()
    if parser.at_end():
        raise InvalidFilter("The filter is empty: send an expression such as userName eq \"alice\".")
    node = parser.parse_or("the start of the filter")
    parser.expect_end('"and", "or" or the end of the filter')
    return node


def parse_path(text: str, rtype: ResourceType) -> PatchPath:
    """A PATCH ``path``. Its structure errs with InvalidPath; the filter between brackets errs with
    InvalidFilter, as RFC 7644 §3.12 (table 9) lists invalidFilter for "PATCH (Path Filter)"."""
    parser = _Parser(text, rtype, InvalidPath)
    parser.skip_ws()
    start = parser.pos
    name = parser.name()
    if name is None:
        parser.fail("expected an attribute name such as \"members\" or \"name.givenName\"")
    path = parser.resolve(name, start)
    result = PatchPath(AttributePath(path.urn, path.attribute), None, path.sub_attribute)
    parser.skip_ws()
    if parser.peek() == "[":
        if path.sub_attribute is not None or not (path.attribute.is_complex and path.attribute.multi_valued):
            parser.fail(f'"{path.dotted}" is not a multi-valued attribute, so it takes no [filter]')
        value_filter = parser.bracketed(path.attribute, InvalidFilter)
        sub = parser.sub_after_bracket(path.attribute)
        result = PatchPath(result.attribute, value_filter, sub)
    parser.expect_end("the end of the path")
    return result


def resolve_attribute(text: str, rtype: ResourceType) -> AttributePath | None:
    """``ResourceType.resolve`` plus unqualified extension attributes (``manager``), which Entra and
    OneLogin send without the enterprise URN."""
    found = rtype.resolve(text)
    if found is not None or rtype.split_urn(text)[0] is not None:
        return found
    for extension in rtype.extensions:
        found = rtype.resolve(f"{extension.id}:{text}")
        if found is not None:
            return found
    return None


# An attribute path, URN prefix included: ATTRNAME = ALPHA *(nameChar), "$ref", "urn:...:2.0:User:x".
_NAME = re.compile(r"[A-Za-z$][A-Za-z0-9_:$.\-]*")
_OPERATOR = re.compile(r"[A-Za-z]+")
# Entra sends string literals unquoted (externalId eq jyoung); Microsoft's tests send dates so.
_BARE = re.compile(r"[^\s()\[\]]+")
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_OPERATOR_LIST = "one of eq, ne, co, sw, ew, gt, ge, lt, le, pr"


@dataclass(frozen=True)
class _Literal:
    kind: str  # "string" | "number" | "boolean" | "null"
    value: object
    raw: str


class _Parser:
    """Recursive descent over the text itself: whether a word is a value, a keyword or an attribute
    depends on where it stands, so there is no separate tokenizer."""

    def __init__(self, text: str, rtype: ResourceType, error: type[ScimError]):
        self.text = text
        self.rtype = rtype
        self.error = error
        self.pos = 0
        self.parent: Attribute | None = None  # set inside [ ... ]: names are its sub-attributes
        self.depth = 0
        self.terms = 0  # comparisons and presence tests so far
        self.bare_value_end: int | None = None  # where the last unquoted value ended, for hints

    # -- reading ------------------------------------------------------------------------------
    def fail(self, what: str, at: int | None = None, expected: str = "") -> NoReturn:
        """Positions are 1-based character offsets into the text as received."""
        at = self.pos if at is None else at
        where = "at the end" if at >= len(self.text) else f"at position {at + 1}"
        raise self.error(f"{what} {where}" + (f"; expected {expected}" if expected else ""))

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def name(self) -> str | None:
        m = _NAME.match(self.text, self.pos)
        if m is None:
            return None
        self.pos = m.end()
        return m.group()

    def keyword(self, word: str) -> bool:
        """Consume ``word`` (case-insensitively, RFC 7644 §3.4.2.2) if it is the next whole word."""
        self.skip_ws()
        m = _NAME.match(self.text, self.pos)
        if m is None or m.group().lower() != word:
            return False
        self.pos = m.end()
        return True

    def unexpected(self, expected: str) -> NoReturn:
        m = _BARE.match(self.text, self.pos)
        token = m.group() if m else self.peek()
        if self.bare_value_end is not None and not self.text[self.bare_value_end:self.pos].strip():
            expected += " (quote values that contain spaces)"
        self.fail(f'unexpected "{token}"', expected=expected)

    def expect_end(self, expected: str) -> None:
        self.skip_ws()
        if not self.at_end():
            if self.peek() == ")":
                self.fail('unbalanced ")"')
            self.unexpected(expected)

    # -- grammar ------------------------------------------------------------------------------
    def parse_or(self, after: str) -> Node:
        operands = [self.parse_and(after)]
        while self.keyword("or"):
            operands.append(self.parse_and('"or"'))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def parse_and(self, after: str) -> Node:
        operands = [self.parse_unary(after)]
        while self.keyword("and"):
            operands.append(self.parse_unary('"and"'))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def parse_unary(self, after: str) -> Node:
        self.skip_ws()
        if self.at_end():
            self.fail(f"expected an expression after {after}")
        if self.peek() == "(":
            return self.group()
        start = self.pos
        if self.keyword("not"):
            self.skip_ws()
            if self.peek() == "(":
                return Not(self.group())
            # RFC 7644 writes not "(" filter ")"; a bare "not attr op value" is taken as meant.
            self.enter()
            node = Not(self.parse_unary('"not"'))
            self.depth -= 1
            return node
        self.pos = start
        return self.attribute_expression(after)

    def enter(self) -> None:
        """Bound the recursion, so that no filter can exhaust the stack."""
        self.depth += 1
        if self.depth > MAX_FILTER_DEPTH:
            self.fail(f'"(" and "not" nested more than {MAX_FILTER_DEPTH} deep')

    def group(self) -> Node:
        opened = self.pos
        self.pos += 1
        self.enter()
        node = self.parse_or('"("')
        self.close("(", ")", opened)
        self.depth -= 1
        return node

    def close(self, opener: str, closer: str, opened: int) -> None:
        self.skip_ws()
        if self.peek() != closer:
            if self.at_end():
                raise self.error(f'the "{opener}" at position {opened + 1} is never closed: add "{closer}"')
            self.unexpected(f'"and", "or" or "{closer}" closing the "{opener}" at position {opened + 1}')
        self.pos += 1

    def attribute_expression(self, after: str) -> Node:
        start = self.pos
        name = self.name()
        if name is None or name.lower() in ("and", "or"):
            self.pos = start
            self.unexpected(f"an attribute name after {after}")
        path = self.resolve(name, start)
        if path.target.returned == "never":  # password: a filter on it would reveal it, bit by bit
            self.fail(f'"{path.dotted}" is write-only and cannot be used in a filter', start)
        if self.peek() == "[":
            if self.parent is not None:
                self.fail("value filters cannot be nested")
            if path.sub_attribute is not None or not path.attribute.is_complex:
                self.fail(f'"{path.dotted}" is not a complex attribute, so it takes no [filter]')
            inner = self.bracketed(path.attribute, self.error)
            sub = self.sub_after_bracket(path.attribute)
            if sub is None:
                return ValuePath(path, inner)
            # Entra: emails[type eq "work"].value eq "x" — one value must satisfy both parts.
            condition = self.comparison(AttributePath(None, sub), f"{name}[...].{sub.name}")
            return ValuePath(path, _and(inner, condition))
        return self.comparison(path, name)

    def bracketed(self, parent: Attribute, error: type[ScimError]) -> Node:
        opened = self.pos
        self.pos += 1
        outer_error, self.error, self.parent = self.error, error, parent
        node = self.parse_or(f'"{parent.name}["')
        self.close("[", "]", opened)
        self.error, self.parent = outer_error, None
        return node

    def sub_after_bracket(self, parent: Attribute) -> Attribute | None:
        if self.peek() != ".":
            return None
        self.pos += 1
        start = self.pos
        name = self.name()
        sub = parent.sub(name) if name else None
        if sub is None:
            self.fail(f'"{parent.name}" has no sub-attribute "{name or ""}"', start)
        return sub

    def resolve(self, name: str, start: int) -> AttributePath:
        if self.parent is not None:
            sub = self.parent.sub(name)
            if sub is None:
                known = ", ".join(a.name for a in self.parent.sub_attributes)
                self.fail(f'"{self.parent.name}" has no sub-attribute "{name}"', start, f"one of {known}")
            return AttributePath(None, sub)
        path = resolve_attribute(name, self.rtype)
        if path is None:
            base = resolve_attribute(name.rpartition(".")[0], self.rtype) if "." in name else None
            if base is not None and base.sub_attribute is None:
                self.fail(f'"{base.dotted}" has no sub-attribute "{name.rpartition(".")[2]}"', start)
            self.fail(f'unknown attribute "{name}" for a {self.rtype.name}', start)
        return path

    def comparison(self, path: AttributePath, spelled: str) -> Node:
        self.skip_ws()
        start = self.pos
        m = _OPERATOR.match(self.text, self.pos)
        if m is None:
            self.fail(f'expected an operator after "{spelled}"', expected=_OPERATOR_LIST)
        op = m.group().lower()
        if op != "pr" and op not in OPERATORS:
            self.fail(f'unknown operator "{m.group()}" after "{spelled}"', start, _OPERATOR_LIST)
        self.terms += 1
        if self.terms > MAX_FILTER_TERMS:
            raise TooMany(
                f"The filter has more than {MAX_FILTER_TERMS} comparisons, more than this server evaluates in "
                "one request: split it into several requests."
            )
        self.pos = m.end()
        if op == "pr":
            return Present(path)
        path = self.value_sub_attribute(path, start)
        self.skip_ws()
        literal_at = self.pos
        literal = self.literal(op)
        if literal.kind == "null":
            # RFC 7643 §2.5: null is "unassigned", so only (in)equality with it has a meaning.
            if op not in ("eq", "ne"):
                self.fail(f'"{op}" cannot compare with null', literal_at,
                          f'"{spelled} pr" or "not ({spelled} pr)"')
            return Not(Present(path)) if op == "eq" else Present(path)
        return Compare(path, op, self.coerce(path, op, literal, literal_at))

    def value_sub_attribute(self, path: AttributePath, at: int) -> AttributePath:
        """A complex attribute compared as a whole compares its ``value`` (``manager eq "id"``)."""
        if not path.target.is_complex:
            return path
        value = path.attribute.sub("value")
        if value is None:
            examples = ", ".join(f"{path.dotted}.{a.name}" for a in path.attribute.sub_attributes[:2])
            self.fail(f'"{path.dotted}" is complex and cannot be compared as a whole', at,
                      f"one of its sub-attributes such as {examples}")
        return AttributePath(path.urn, path.attribute, value)

    def literal(self, op: str) -> _Literal:
        if self.at_end() or self.peek() in ")]":
            self.fail(f'expected a value after "{op}"')
        if self.peek() == '"':
            return self.string_literal()
        raw = _BARE.match(self.text, self.pos).group()
        self.pos += len(raw)
        self.bare_value_end = self.pos
        lowered = raw.lower()
        if lowered in ("true", "false"):
            return _Literal("boolean", lowered == "true", raw)
        if lowered == "null":
            return _Literal("null", None, raw)
        if _NUMBER.fullmatch(raw):
            return _Literal("number", json.loads(raw), raw)
        return _Literal("string", raw, raw)

    def string_literal(self) -> _Literal:
        start = self.pos
        i = start + 1
        while i < len(self.text) and self.text[i] != '"':
            i += 2 if self.text[i] == "\\" else 1
        if i >= len(self.text):
            self.fail("unterminated string (a closing \" is missing) starting", start)
        raw = self.text[start:i + 1]
        try:
            value = json.loads(raw, strict=False)
        except ValueError:
            self.fail("invalid escape sequence in the string starting", start)
        if SURROGATE.search(value):
            self.fail("an unpaired UTF-16 surrogate escape (such as \\ud800) in the string starting", start)
        self.pos = i + 1
        return _Literal("string", value, raw)

    def coerce(self, path: AttributePath, op: str, literal: _Literal, at: int):
        """The literal as the attribute's type; RFC 7644 §3.4.2.2 refuses ordering on booleans and
        binaries, and substring operators only make sense on strings."""
        attr = path.target
        kind = attr.type
        if kind == "boolean":
            if op not in ("eq", "ne"):
                self.fail(f'"{op}" cannot compare the boolean "{path.dotted}"', at, "eq or ne")
            if literal.kind == "boolean":
                return literal.value
            if literal.kind == "string" and str(literal.value).strip().lower() in ("true", "false"):
                return str(literal.value).strip().lower() == "true"
            self.fail(f'cannot compare the boolean "{path.dotted}" with {literal.raw}', at, "true or false")
        if op in SUBSTRING and kind not in ("string", "reference", "binary"):
            self.fail(f'"{op}" cannot compare the {kind} "{path.dotted}"', at,
                      "eq, ne, gt, ge, lt or le (co, sw and ew compare strings)")
        if kind == "dateTime":
            return self.date_time(path, literal, at)
        if kind in ("integer", "decimal"):
            if literal.kind == "number":
                return literal.value
            if isinstance(literal.value, str) and _NUMBER.fullmatch(literal.value.strip()):
                return json.loads(literal.value.strip())
            self.fail(f'cannot compare the number "{path.dotted}" with {literal.raw}', at, "a number")
        if kind == "binary" and op in ORDERING:
            self.fail(f'"{op}" cannot compare the binary "{path.dotted}"', at)
        # Strings: an unquoted number or boolean is taken as its text (employeeNumber eq 1234).
        text = literal.value if literal.kind == "string" else literal.raw
        if "\x00" in text:  # no stored value holds one, and PostgreSQL refuses it in a query
            self.fail("a NUL character (\\u0000) cannot appear in a value", at)
        return text

    def date_time(self, path: AttributePath, literal: _Literal, at: int) -> datetime:
        parsed = parse_date_time(str(literal.value)) if literal.kind == "string" else None
        if parsed is None:
            self.fail(f'cannot compare the dateTime "{path.dotted}" with {literal.raw}', at,
                      "an ISO 8601 date and time such as \"2024-01-31T12:00:00Z\"")
        return parsed


def parse_date_time(text: str) -> datetime | None:
    """An xsd:dateTime (RFC 7643 §2.3.5) as an aware datetime; a value without offset is taken as UTC.
    Fractions beyond microseconds (.NET's 7 digits, in Microsoft's tests) are truncated."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _and(left: Node, right: Node) -> Node:
    left_ops = left.operands if isinstance(left, And) else (left,)
    return And((*left_ops, right))
