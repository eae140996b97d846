"""The direction of imports between the layers (docs/architecture.md, "Layers and the way a request flows").

Read with ``ast`` from the source, so a forbidden import fails here even where no test runs the code
that holds it (an import inside a function, or behind ``TYPE_CHECKING``, counts as well).
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from scim_bridge import errors

PACKAGE = Path(__file__).resolve().parents[2] / "scim_bridge"

# The SCIM HTTP errors (a status and a scimType): rules/ raises RuleError instead.
SCIM_ERRORS = sorted(f"scim_bridge.errors.{name}" for name, obj in vars(errors).items()
                     if inspect.isclass(obj) and issubclass(obj, errors.ScimError))


def imported_names(source: str, package: str) -> set[str]:
    """Every dotted name a module imports: ``a.b`` for ``import a.b``, ``a.b.c`` for ``from a.b import c``
    (``c`` a module or a name in it); relative imports resolved against ``package``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.rsplit(".", node.level - 1)[0]
                module = f"{base}.{module}" if module else base
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def offending(layer: str, forbidden) -> list[str]:
    found = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        package = ".".join(path.relative_to(PACKAGE.parent).parts[:-1])
        found += [f"{path.relative_to(PACKAGE.parent)} imports {name}"
                  for name in sorted(imported_names(path.read_text(), package)) if forbidden(name)]
    return found


def under(*prefixes: str):
    return lambda name: any(name == p or name.startswith(f"{p}.") for p in prefixes)


PURE = ("scim_bridge.store", "scim_bridge.sync", "scim_bridge.api", "sqlalchemy", "flask", "werkzeug")


@pytest.mark.parametrize(("layer", "forbidden", "why"), [
    pytest.param("store", under("scim_bridge.scim.patch", "scim_bridge.scim.matching"),
                 "the store takes plain data (attributes, a MembershipDelta of user ids), not PATCH internals",
                 id="store-not-patch"),
    pytest.param("scim", under(*PURE), "scim/ is pure: no store, no SQL, no Flask", id="scim-pure"),
    pytest.param("rules", under(*PURE, "scim_bridge.scim"), "rules/ is pure: no store, no SQL, no Flask, no SCIM",
                 id="rules-pure"),
    pytest.param("rules", lambda name: name == "scim_bridge.errors" or name in SCIM_ERRORS,
                 "rules raise RuleError (rules/errors.py); api/boundary.py maps it to a SCIM error",
                 id="rules-no-scim-errors"),
    pytest.param("sync", under("scim_bridge.scim"), "delivery reads snapshots built by rules/, not scim/",
                 id="sync-not-scim"),
])
def test_imports_point_one_way(layer, forbidden, why):
    assert offending(layer, forbidden) == [], why


def test_the_reader_sees_every_form_of_import():
    source = """
import sqlalchemy.orm
from scim_bridge import errors
from scim_bridge.scim.patch import MemberChanges
from . import links
from ..scim import matching

def late():
    from flask import request
"""
    names = imported_names(source, "scim_bridge.store")
    assert names == {"sqlalchemy.orm", "scim_bridge.errors", "scim_bridge.scim.patch.MemberChanges",
                     "scim_bridge.store.links", "scim_bridge.scim.matching", "flask.request"}
    assert under("scim_bridge.scim.patch")("scim_bridge.scim.patch.MemberChanges")
    assert not under("scim_bridge.scim.patch")("scim_bridge.scim.patch_dialects.expand")
    assert "scim_bridge.errors.InvalidValue" in SCIM_ERRORS and "scim_bridge.errors.ConfigError" not in SCIM_ERRORS
