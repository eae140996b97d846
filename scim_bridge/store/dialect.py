"""SQL that SQLite and PostgreSQL spell differently, as SQLAlchemy constructs compiled per dialect.

The filter translator (store/query.py) builds one expression tree and lets the engine's dialect pick
the spelling, so the same code serves both databases.
"""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def insert_for(dialect: str, table):
    """``upsert_into`` for a dialect by name: for statements built once and kept."""
    return _INSERTS[dialect](table)


def upsert_into(session, model):
    """An INSERT into ``model``'s table that takes ``on_conflict_do_update``/``_do_nothing`` (both
    databases spell ON CONFLICT alike, SQLAlchemy has one construct per dialect)."""
    return insert_for(session.get_bind().dialect.name, model)


class json_array_elements(FunctionElement):  # noqa: N801 - named like the SQL function it stands for
    """The elements of a JSON array as rows with one column, ``value``; no rows for anything else.

    SQLite ``json_each`` walks an object's members and PostgreSQL ``jsonb_array_elements`` raises on
    a non-array, so both get a guard: the canonical form stores arrays, but one bad row must not make
    every list request fail."""

    inherit_cache = True


@compiles(json_array_elements, "sqlite")
def _json_each(element, compiler, **kw):
    document = compiler.process(element.clauses, **kw)
    return f"json_each(CASE WHEN json_type({document}) = 'array' THEN {document} ELSE '[]' END)"


@compiles(json_array_elements, "postgresql")
def _jsonb_array_elements(element, compiler, **kw):
    document = compiler.process(element.clauses, **kw)
    return (f"jsonb_array_elements(CASE WHEN jsonb_typeof({document}) = 'array' "
            f"THEN {document} ELSE '[]'::jsonb END)")


class text_position(FunctionElement):  # noqa: N801
    """1-based position of the second string in the first, 0 when absent; case-sensitive on both
    databases (SQLite's LIKE is not, so case-exact ``co`` cannot use it)."""

    type = Integer()
    inherit_cache = True


@compiles(text_position, "sqlite")
def _instr(element, compiler, **kw):
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(text_position, "postgresql")
def _strpos(element, compiler, **kw):
    return f"strpos({compiler.process(element.clauses, **kw)})"


class codepoint_order(FunctionElement):  # noqa: N801
    """A string compared by code point, as Python compares: SQLite's BINARY collation already does;
    PostgreSQL's database collation (en_US and the like) would order "a-b" and "ab" otherwise."""

    type = String()
    inherit_cache = True


@compiles(codepoint_order)
def _as_is(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(codepoint_order, "postgresql")
def _collate_c(element, compiler, **kw):
    return f'({compiler.process(element.clauses, **kw)} COLLATE "C")'


def register_sqlite_functions(dbapi_connection) -> None:
    """For each new SQLite connection: SQLite's own lower() folds ASCII letters only, where Python
    and PostgreSQL fold all of Unicode. Filters lower-case both sides of a caseExact=false comparison
    (the literal in Python, the stored value in SQL), so both must fold alike: "Émile" eq "émile"."""
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def _unicode_lower(value):
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).lower()  # numbers become text, as with the built-in
