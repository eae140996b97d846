"""What the two configuration schemas share (config.py and rules/settings.py): strictness, and
marshmallow's nested error messages turned into "key.path: message" lines that name the key."""

from __future__ import annotations

from collections.abc import Iterator

from marshmallow import RAISE, Schema


class StrictSchema(Schema):
    """Unknown keys are errors: a misspelt setting must stop the start, not be ignored."""

    class Meta:
        unknown = RAISE


def error_lines(messages, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, message) for each error; a Dict field's value errors lose marshmallow's extra
    "value" level, so targets.jira.url reads as it is written."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            skip = key == "value" and isinstance(value, dict)  # only a Dict field nests errors so
            yield from error_lines(value, prefix if skip else f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        yield prefix, " ".join(m.replace("Unknown field.", "unknown key.") for m in messages)
    else:
        for i, item in enumerate(messages):
            yield from error_lines(item, f"{prefix}.{i}")
