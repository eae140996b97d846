"""The in-memory user directory behind each fake: accounts, groups and memberships.

All three products keep users, groups and direct memberships the same way (an embedded Crowd
directory), and compare names case-insensitively. Every lookup is a dict access keyed by the
case-folded name; memberships are indexed both ways, so adding one member to a 50,000-member group
or reading one user's groups costs the same as in an empty directory. Sorted listings are built
once per change of the directory and reused by every page that follows, so walking 100,000 users
page by page stays linear.

Not thread-safe by itself: each fake product serialises access with its own lock.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from atlassian_clients.fakes.text_index import TextIndex


def fold(name: str) -> str:
    return name.casefold()


@dataclass
class Account:
    id: int
    name: str
    display_name: str
    email: str
    key: str
    active: bool = True
    password: str | None = field(default=None, repr=False)
    directory: str = "Internal Directory"

    def matches(self, text: str) -> bool:
        """Substring match on username, display name or e-mail, as the products' user filters do."""
        needle = fold(text)
        return needle in fold(self.name) or needle in fold(self.display_name) or needle in fold(self.email)


class Directory:
    """Users, groups and direct memberships of one product."""

    LISTING_CACHE_SIZE = 64

    def __init__(self, make_key: Callable[[int, str], str], alias: Callable[[str], str] | None = None) -> None:
        """``make_key`` gives a new account its key; ``alias`` (e.g. Bitbucket's slug) is indexed too."""
        self._make_key = make_key
        self._alias = alias
        self._aliases: dict[str, str] = {}
        self._users: dict[str, Account] = {}
        self._text = TextIndex()
        self._key_to_name: dict[str, str] = {}
        self._ids: list[int] = []  # every id ever issued, ascending: the cursor order
        self._id_to_name: dict[int, str] = {}
        self._next_id = 1
        self._groups: dict[str, str] = {}
        self._members: dict[str, dict[str, None]] = {}
        self._member_of: dict[str, dict[str, None]] = {}
        self._listings: dict[Any, Any] = {}

    # -- change tracking -------------------------------------------------------------------------

    def _changed(self) -> None:
        self._listings.clear()

    def touch(self) -> None:
        """Drop cached listings after a change the directory cannot see (e.g. permissions)."""
        self._changed()

    def memo(self, key: Any, build: Callable[[], Any]) -> Any:
        """What ``build`` returns, reused until the directory changes."""
        if key in self._listings:
            return self._listings[key]
        if len(self._listings) >= self.LISTING_CACHE_SIZE:
            self._listings.clear()
        value = self._listings[key] = build()
        return value

    def listing(self, key: Any, build: Callable[[], Iterable]) -> list:
        """The list of what ``build`` yields, reused until the directory changes."""
        return self.memo(key, lambda: list(build()))

    # -- users -----------------------------------------------------------------------------------

    def user(self, name: str) -> Account | None:
        return self._users.get(fold(name))

    def user_by_key(self, key: str) -> Account | None:
        name = self._key_to_name.get(key)
        return self._users.get(name) if name is not None else None

    def user_by_alias(self, alias: str) -> Account | None:
        name = self._aliases.get(alias)
        return self._users.get(name) if name is not None else None

    def _index_alias(self, name: str) -> None:
        if self._alias is not None:
            self._aliases[self._alias(name)] = fold(name)

    def _drop_alias(self, name: str) -> None:
        if self._alias is not None and self._aliases.get(self._alias(name)) == fold(name):
            del self._aliases[self._alias(name)]

    def add_user(self, name: str, display_name: str, email: str, *, key: str | None = None, **fields: Any) -> Account:
        if fold(name) in self._users:
            raise ValueError(f"user {name!r} exists")
        account_id = self._next_id
        self._next_id += 1
        account = Account(account_id, name, display_name, email, key or self._make_key(account_id, name), **fields)
        self._users[fold(name)] = account
        self._key_to_name[account.key] = fold(name)
        self._ids.append(account_id)
        self._id_to_name[account_id] = fold(name)
        self._member_of[fold(name)] = {}
        self._index_alias(name)
        self._index_text(account)
        self._changed()
        return account

    def _index_text(self, account: Account) -> None:
        self._text.put(account.id, fold(account.name), fold(account.display_name), fold(account.email))

    def update_user(self, account: Account, **fields: Any) -> None:
        for name, value in fields.items():
            setattr(account, name, value)
        self._index_text(account)
        self._changed()

    def rename_user(self, account: Account, new_name: str) -> None:
        old, new = fold(account.name), fold(new_name)
        if new != old and new in self._users:
            raise ValueError(f"user {new_name!r} exists")
        groups = self._member_of.pop(old)
        del self._users[old]
        self._drop_alias(account.name)
        account.name = new_name
        self._index_alias(new_name)
        self._index_text(account)
        self._users[new] = account
        self._key_to_name[account.key] = new
        self._id_to_name[account.id] = new
        self._member_of[new] = groups
        for group in groups:
            del self._members[group][old]
            self._members[group][new] = None
        self._changed()

    def remove_user(self, account: Account) -> None:
        name = fold(account.name)
        for group in self._member_of.pop(name):
            del self._members[group][name]
        del self._users[name]
        del self._key_to_name[account.key]
        del self._id_to_name[account.id]
        self._drop_alias(account.name)
        self._text.remove(account.id)
        self._changed()

    def users(self) -> list[Account]:
        """All accounts sorted by case-folded name."""
        return self.listing("users", lambda: (self._users[n] for n in sorted(self._users)))

    def search(self, text: str) -> list[Account]:
        """Accounts whose username, display name or e-mail contains ``text``, sorted by name."""
        needle = fold(text)

        def build() -> list[Account]:
            found = (self._users[self._id_to_name[i]] for i in self._text.search(needle))
            return sorted(found, key=lambda account: fold(account.name))

        return self.memo(("search", needle), build)

    def users_after_id(self, cursor: int, limit: int) -> tuple[list[Account], bool]:
        """Up to ``limit`` accounts with an id above ``cursor`` in id order, and whether that was all."""
        found: list[Account] = []
        position = bisect.bisect_right(self._ids, cursor)
        while position < len(self._ids) and len(found) < limit:
            name = self._id_to_name.get(self._ids[position])
            if name is not None:
                found.append(self._users[name])
            position += 1
        rest = (self._ids[i] in self._id_to_name for i in range(position, len(self._ids)))
        return found, not any(rest)

    def __len__(self) -> int:
        return len(self._users)

    # -- groups ----------------------------------------------------------------------------------

    def group(self, name: str) -> str | None:
        """The group's stored name, or None."""
        return self._groups.get(fold(name))

    def add_group(self, name: str) -> str:
        if fold(name) in self._groups:
            raise ValueError(f"group {name!r} exists")
        self._groups[fold(name)] = name
        self._members[fold(name)] = {}
        self._changed()
        return name

    def remove_group(self, name: str) -> None:
        group = fold(name)
        for member in self._members.pop(group):
            del self._member_of[member][group]
        del self._groups[group]
        self._changed()

    def groups(self) -> list[str]:
        return self.listing("groups", lambda: (self._groups[g] for g in sorted(self._groups)))

    # -- memberships -----------------------------------------------------------------------------

    def is_member(self, group: str, user: str) -> bool:
        return fold(user) in self._members.get(fold(group), {})

    def add_member(self, group: str, user: str) -> bool:
        """Add a direct membership; False when it was already there."""
        g, u = fold(group), fold(user)
        if u in self._members[g]:
            return False
        self._members[g][u] = None
        self._member_of[u][g] = None
        self._changed()
        return True

    def remove_member(self, group: str, user: str) -> bool:
        g, u = fold(group), fold(user)
        if u not in self._members[g]:
            return False
        del self._members[g][u]
        del self._member_of[u][g]
        self._changed()
        return True

    def members(self, group: str) -> list[Account]:
        """The group's members sorted by name."""
        g = fold(group)
        return self.listing(("members", g), lambda: (self._users[u] for u in sorted(self._members[g])))

    def groups_of(self, user: str) -> list[str]:
        """The user's groups sorted by name."""
        u = fold(user)
        return self.listing(("groups-of", u), lambda: (self._groups[g] for g in sorted(self._member_of[u])))

    def member_count(self, group: str) -> int:
        return len(self._members[fold(group)])


def page(items: list, start: int, limit: int) -> tuple[list, bool]:
    """The slice [start, start + limit) and whether it reaches the end."""
    start = max(start, 0)
    chunk = items[start : start + max(limit, 0)]
    return chunk, start + len(chunk) >= len(items)
