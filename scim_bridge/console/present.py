"""How the console shows things: times in the configured zone with the zone named, and the effective
configuration as rows of settings with every secret masked."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from markupsafe import Markup

from scim_bridge.config import Settings, TargetSettings

MASK = "(set, not shown)"
# Keys whose values are never rendered, wherever they sit (a plug-in's options included).
_SECRET_KEY = re.compile(r"password|token|secret|credential|private", re.I)


class Clock:
    """Formats store times (UTC) in one zone, always naming it."""

    def __init__(self, zone: str):
        self.zone = ZoneInfo(zone)

    def when(self, value: datetime | None) -> Markup:
        if value is None:
            return Markup("never")
        local = value.astimezone(self.zone)
        return Markup('<time datetime="{}">{}</time>').format(
            value.isoformat(timespec="seconds"), local.strftime("%Y-%m-%d %H:%M:%S %Z"))

    @staticmethod
    def age(value: datetime | None, now: datetime) -> str:
        if value is None:
            return "–"
        seconds = max(int((now - value).total_seconds()), 0)
        for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
            if seconds >= size:
                return f"{seconds // size} {unit}"
        return f"{seconds} s"


def _plain(value):
    if isinstance(value, re.Pattern):
        return value.pattern
    if isinstance(value, tuple | list | frozenset | set):
        return ", ".join(str(_plain(v)) for v in value) or "(none)"
    if value is None:
        return "(not set)"
    return value


def rows(prefix: str, value) -> list[tuple[str, object]]:
    """A dataclass or mapping flattened to ("key.path", shown value) rows, secrets masked."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if _SECRET_KEY.search(str(key)):
                out.append((path, MASK if item else "(not set)"))
            else:
                out.extend(rows(path, item))
        return out
    return [(prefix, _plain(value))]


def target_rows(target: TargetSettings) -> list[tuple[str, object]]:
    if target.token is not None:
        auth = f"personal access token {MASK}"
    else:
        auth = f"basic auth as {target.username}, password {MASK}"
    return [("type", target.type), ("url", target.url), ("enabled", target.enabled), ("authentication", auth),
            *rows("rules", target.rules), *rows("http", target.http),
            *rows("options", target.options if target.options is not None else {})]


def side_by_side(targets: dict[str, TargetSettings]) -> tuple[list[str], list[tuple[str, list]]]:
    """The targets' settings as one table: a row per setting, a column per target."""
    names = list(targets)
    per_target = {name: dict(target_rows(target)) for name, target in targets.items()}
    keys: dict[str, None] = {}
    for values in per_target.values():
        keys.update(dict.fromkeys(values))
    return names, [(key, [per_target[name].get(key, "–") for name in names]) for key in keys]


def general_rows(settings: Settings) -> list[tuple[str, object]]:
    url = sa.make_url(settings.database.url).render_as_string(hide_password=True)
    return [("database.url", url), *rows("delivery", settings.delivery), *rows("metrics", settings.metrics),
            *rows("console", settings.console), *rows("reconcile", settings.reconcile)]
