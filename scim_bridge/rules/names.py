"""SCIM names → Atlassian names: the username and group-name rules, the group filters, protected accounts.

A name rule is a regex and a replacement applied like Java's ``String.replaceAll`` (which the
marketplace apps this bridge replaces use, hence their ``$1`` syntax): every match is replaced and the
text around matches is kept. So miniOrange's ``(.*)@.*`` → ``$1`` turns ``demouser@gmail.com`` into
``demouser``, ``(.*)0(.*)`` → ``$1$2`` turns ``demo0user`` into ``demouser``, and ``\\.`` → ``_`` turns
every dot into an underscore. A name the regex does not match is kept as it is: service accounts
without a domain (``jenkins``) keep their names instead of being refused, as the marketplace apps do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatchcase
from functools import lru_cache

from scim_bridge.rules.errors import UnmappableName
from scim_bridge.rules.model import GroupRules, TargetRules

# Confluence refuses upper case in user names (createUser rules) and wants lower-case group names
# (docs/products.md §3.2), so lower-casing cannot be turned off for it.
LOWER_CASE_PRODUCTS = frozenset({"confluence"})
DEFAULT_REPLACEMENT = "$1"

_DOLLAR_NAMED = re.compile(r"\$\{([^}]*)\}")
_BACKSLASH_NAMED = re.compile(r"\\g<([^>]*)>")


def name_key(name: str) -> str:
    """The form names are compared in: every Atlassian product compares user and group names
    case-insensitively (docs/products.md §1.5)."""
    return name.lower()


# -- replacements ----------------------------------------------------------------------------------


def parse_replacement(pattern: re.Pattern, replacement: str) -> tuple[str | int, ...]:
    """Split ``replacement`` into literal text and group numbers; ``ValueError`` names the problem.

    Accepted: ``$1`` and ``\\1`` (as Java, a further digit belongs to the number only while such a
    group exists, so ``$10`` is group 1 then ``0`` in a one-group regex), ``${1}``, ``${name}``,
    ``\\g<name>``, ``$$`` for a dollar and ``\\`` before any other character for that character.
    """
    pieces: list[str | int] = []
    text = ""
    i = 0
    while i < len(replacement):
        char = replacement[i]
        if char not in "$\\":
            text += char
            i += 1
            continue
        nxt = replacement[i + 1] if i + 1 < len(replacement) else ""
        named = (_DOLLAR_NAMED if char == "$" else _BACKSLASH_NAMED).match(replacement, i)
        if named:
            group, i = _named_group(pattern, named.group(1)), named.end()
        elif nxt.isdigit():
            group, i = _numbered_group(pattern, replacement, i + 1)
        elif char == "$" and nxt != "$":
            raise ValueError(f"'$' at position {i} must be followed by a group number, {{name}} or another '$'")
        elif not nxt:
            raise ValueError("a trailing '\\' escapes nothing")
        else:
            text += nxt
            i += 2
            continue
        if text:
            pieces.append(text)
            text = ""
        pieces.append(group)
    if text:
        pieces.append(text)
    return tuple(pieces)


def _named_group(pattern: re.Pattern, name: str) -> int:
    if name.isdigit():
        return _check_number(pattern, int(name))
    if name not in pattern.groupindex:
        raise ValueError(f"the replacement names group {name!r}, which the regex does not define")
    return pattern.groupindex[name]


def _numbered_group(pattern: re.Pattern, text: str, start: int) -> tuple[int, int]:
    number, end = int(text[start]), start + 1
    while end < len(text) and text[end].isdigit() and number * 10 + int(text[end]) <= pattern.groups:
        number, end = number * 10 + int(text[end]), end + 1
    return _check_number(pattern, number), end


def _check_number(pattern: re.Pattern, number: int) -> int:
    if number > pattern.groups:
        have = f"only {pattern.groups} group" + ("" if pattern.groups == 1 else "s") if pattern.groups else "no group"
        raise ValueError(f"the replacement uses group {number} but the regex has {have}")
    return number


@lru_cache(maxsize=256)
def compiled_rule(regex: str, replacement: str) -> tuple[re.Pattern, tuple[str | int, ...]]:
    """The compiled regex and parsed replacement; ``re.error`` or ``ValueError`` when either is bad."""
    pattern = re.compile(regex)
    return pattern, parse_replacement(pattern, replacement)


def rewrite(text: str, regex: str | None, replacement: str | None) -> str:
    """Apply a name rule; ``regex`` None leaves ``text`` unchanged."""
    if regex is None:
        return text
    pattern, pieces = compiled_rule(regex, DEFAULT_REPLACEMENT if replacement is None else replacement)

    def expand(match: re.Match) -> str:
        # A group that took no part in the match expands to nothing, as in Java and Python.
        return "".join(piece if isinstance(piece, str) else match.group(piece) or "" for piece in pieces)

    return pattern.sub(expand, text)


# -- users -----------------------------------------------------------------------------------------


def map_username(user_name: str, rules: TargetRules) -> str:
    """The Atlassian username for a SCIM ``userName`` on this target."""
    rule = rules.username
    return _mapped(user_name, rule.regex, rule.replacement, rule.lowercase, rules,
                   f"userName {user_name!r} becomes an empty {rules.product} username under username.regex")


def _mapped(source: str, regex: str | None, replacement: str | None, lowercase: bool, rules: TargetRules,
            empty: str) -> str:
    name = rewrite(source, regex, replacement)
    if lowercase or rules.product in LOWER_CASE_PRODUCTS:
        name = name.lower()
    if not name.strip():
        raise UnmappableName(f"{empty} {regex!r}")
    return name


def protected_by(username: str, rules: TargetRules) -> str | None:
    """The ``users.protected`` entry (name or glob) that covers ``username``, else ``None``."""
    key = name_key(username)
    return next((p for p in rules.users.protected if fnmatchcase(key, name_key(p))), None)


def is_protected(username: str, rules: TargetRules) -> bool:
    return protected_by(username, rules) is not None


# -- groups ----------------------------------------------------------------------------------------


def is_pushed(display_name: str, groups: GroupRules) -> bool:
    """Whether a SCIM group reaches this target: it matches an include (when any is set) and no
    exclude; exclude wins, so a broad include can have exceptions. Regexes search, as the name
    rules do: anchor them (``^…$``) for whole names, add ``(?i)`` to ignore case."""
    if groups.include and not any(re.search(p, display_name) for p in groups.include):
        return False
    return not any(re.search(p, display_name) for p in groups.exclude)


def map_group_name(display_name: str, rules: TargetRules) -> str | None:
    """The Atlassian group name for a SCIM group ``displayName``, or ``None`` when it is not pushed."""
    groups = rules.groups
    if not is_pushed(display_name, groups):
        return None
    return _mapped(display_name, groups.name.regex, groups.name.replacement, groups.name.lowercase, rules,
                   f"group {display_name!r} becomes an empty {rules.product} group name under groups.name.regex")


def mapped_group_names(display_names: Iterable[str], rules: TargetRules) -> frozenset[str]:
    """Target names of the pushed groups among ``display_names``.

    A group whose name the rules make empty is left out here: its own group delivery reports it,
    and one such group must not stop every user's delivery."""
    names = set()
    for display_name in display_names:
        try:
            name = map_group_name(display_name, rules)
        except UnmappableName:
            continue
        if name is not None:
            names.add(name)
    return frozenset(names)


def managed_groups(group_display_names: Iterable[str], rules: TargetRules) -> frozenset[str]:
    """The target groups the bridge manages memberships of: every pushed SCIM group, mapped, plus
    ``default_groups``. Pass the names of groups still being deleted too, so that their
    memberships are taken away when ``groups.delete`` leaves the group itself in place."""
    return mapped_group_names(group_display_names, rules) | frozenset(rules.default_groups)
