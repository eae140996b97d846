"""The options a client class takes: a frozen dataclass per class, its one source of defaults.

A client declares ``Options`` (a subclass of :class:`ClientOptions`); each field is one option, its
default the option's default, and ``metadata["help"]`` its one-line meaning. The configuration
checks ``targets.<name>.options`` against that declaration before any client is built (so a
misspelt option stops the start naming it instead of failing in the constructor), and
``config.yaml`` lists the shipped clients' options in its comments.

An option's type is one of ``bool``, ``int``, ``float``, ``str`` or ``tuple[str, ...]``: what a
YAML file can say plainly.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

OPTION_TYPES: dict[Any, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    tuple[str, ...]: "a list of strings",
}


def option(default: Any, meaning: str) -> Any:
    """A declared option: its default and what it means, in one line."""
    return field(default=default, metadata={"help": meaning})


@dataclass(frozen=True)
class ClientOptions:
    """Options every :class:`~atlassian_clients.product.ProductClient` takes; plug-ins extend it."""

    page_size: int = option(100, "items asked for per page when the client lists users or groups")


@dataclass(frozen=True)
class OptionSpec:
    name: str
    type: Any
    default: Any
    meaning: str

    def describe(self, *, meaning: bool = False) -> str:
        """``name (type, default value)``, and its meaning when asked."""
        text = f"{self.name} ({OPTION_TYPES[self.type]}, default {yaml_value(self.default)})"
        return f"{text}: {self.meaning}" if meaning else text


def option_specs(options: type[ClientOptions]) -> tuple[OptionSpec, ...]:
    """The declared options of an ``Options`` class, in declaration order."""
    hints = typing.get_type_hints(options)
    specs = []
    for declared in dataclasses.fields(options):
        kind = hints[declared.name]
        if kind not in OPTION_TYPES:
            raise TypeError(f"{options.__qualname__}.{declared.name}: an option is bool, int, float, str or "
                            f"tuple[str, ...], not {kind}")
        specs.append(OptionSpec(declared.name, kind, declared.default, declared.metadata.get("help", "")))
    return tuple(specs)


def options_of(client_class: type) -> type[ClientOptions] | None:
    """The ``Options`` a client class declares; ``None`` for a plug-in that declares none (takes none)."""
    declared = getattr(client_class, "Options", None)
    return declared if isinstance(declared, type) and dataclasses.is_dataclass(declared) else None


def yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(value) + "]"
    return str(value)


__all__ = ["ClientOptions", "OptionSpec", "option", "option_specs", "options_of", "yaml_value"]
