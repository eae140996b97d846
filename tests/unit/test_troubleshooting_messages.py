"""Every message docs/troubleshooting.md quotes is one the bridge still prints.

The page quotes each message in a heading (``#### `message` ``), with ``…`` where the bridge puts a
value (a target, a name, a number). Each piece between the ``…`` must occur in one string literal of
the code (adjacent literals joined, as Python joins them; f-string fields and ``%s`` read as ``…``),
so a reworded or removed message fails here until the page follows it.
"""

from __future__ import annotations

import io
import re
import tokenize
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "troubleshooting.md"
SOURCES = ("scim_bridge", "atlassian_clients")
# A value the bridge fills in: an f-string field, a %-format, or the page's ellipsis.
FIELD = re.compile(r"\{[^{}]*\}|%[-.\d]*[sdfr]")
PREFIX = re.compile(r"^[rRbBuUfF]*")


def _literal(token: str) -> str:
    body = PREFIX.sub("", token)
    quote = body[:3] if body[:3] in ('"""', "'''") else body[0]
    return body[len(quote):-len(quote)].replace('\\"', '"').replace("\\'", "'")


@cache
def _literals() -> tuple[str, ...]:
    """Every string literal of the code, adjacent ones joined, values read as ``…``."""
    found = []
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "fakes" in path.parts:
                continue
            run: list[str] = []
            source = path.read_text(encoding="utf-8")
            for token in tokenize.generate_tokens(io.StringIO(source).readline):
                if token.type == tokenize.STRING:
                    run.append(_literal(token.string))
                elif token.type in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT) and run:
                    if token.type == tokenize.NEWLINE:
                        found.append("".join(run))
                        run = []
                elif run:
                    found.append("".join(run))
                    run = []
            if run:
                found.append("".join(run))
    return tuple(FIELD.sub("…", text) for text in found)


def _quoted() -> list[str]:
    messages = []
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if line.startswith("#### "):
            messages += re.findall(r"``(.+?)``|`([^`]+)`", line)
    return [double or single for double, single in messages]


def test_the_page_quotes_messages_and_is_linked_from_the_readme():
    assert len(_quoted()) >= 30
    assert "(docs/troubleshooting.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("message", _quoted())
def test_each_quoted_message_is_in_the_code(message):
    pieces = [piece.strip() for piece in message.split("…") if piece.strip(" '\"")]
    missing = [piece for piece in pieces if not any(piece in literal for literal in _literals())]
    assert not missing, f"docs/troubleshooting.md quotes {message!r}; not in the code: {missing}"
