"""What every fake product shares: its lock, directory, credentials, knobs and call counters.

A ``FakeProduct`` is the state of one fake Jira, Confluence or Bitbucket. Tests and the demo seed
it directly (``add_user``, ``add_group``, ``add_member``, ``add_token``) and read it back
(``user``, ``members``, ``groups_of``, ``dump``); the REST API in ``rest.py`` serves it over HTTP.
Every method takes the product's lock, so seeding while the server runs is safe.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from flask import Response

from atlassian_clients.fakes.directory import Account, Directory
from atlassian_clients.fakes.knobs import Knobs

MUTATING_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})


@dataclass(frozen=True)
class Caller:
    """Who a request is authenticated as, and how."""

    name: str
    admin: bool
    token: bool


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


class CallCounter:
    """Mutating calls per (method, path): received at all, and applied by the product (2xx).

    A call that a knob failed before the product saw it counts as received only; one failed
    with ``after_apply`` counts as applied, since the change landed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: Counter[tuple[str, str]] = Counter()
        self._applied: Counter[tuple[str, str]] = Counter()

    def note(self, method: str, path: str, *, applied: bool) -> None:
        with self._lock:
            self._received[method, path] += 1
            if applied:
                self._applied[method, path] += 1

    def received(self, method: str, path: str) -> int:
        with self._lock:
            return self._received[method.upper(), path]

    def applied(self, method: str, path: str) -> int:
        with self._lock:
            return self._applied[method.upper(), path]

    def snapshot(self) -> dict[str, dict[str, int]]:
        """``{"POST /rest/api/2/user": {"received": 2, "applied": 1}, ...}``"""
        with self._lock:
            return {
                f"{method} {path}": {"received": count, "applied": self._applied[method, path]}
                for (method, path), count in sorted(self._received.items())
            }

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
            self._applied.clear()


class FakeProduct:
    """State of one fake product. Subclasses add the product's REST shapes and rules."""

    name: ClassVar[str]
    default_version: ClassVar[str]
    # REST roots the product serves, canonical one first (calls are counted under it).
    rest_roots: ClassVar[tuple[str, ...]]
    # Bitbucket accepts a personal access token as the Basic password too, and its tokens can
    # never hold the global ADMIN permission (docs/products.md §4.2).
    token_as_password: ClassVar[bool] = False
    tokens_may_administer: ClassVar[bool] = True
    internal_directory: ClassVar[str] = "Internal Directory"

    def __init__(
        self,
        *,
        admin_user: str = "admin",
        admin_password: str = "admin",
        admin_token: str | None = None,
        version: str | None = None,
        seed: int = 0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.lock = threading.RLock()
        self.directory = Directory(self.make_key, self.alias)
        self.knobs = Knobs(seed=seed, sleep=sleep)
        self.calls = CallCounter()
        self.version = version or self.default_version
        self.tokens: dict[str, str] = {}
        self.admin_user = admin_user
        # Directories whose accounts the product may edit: the internal one, and any a test adds
        # (a Crowd or read-write LDAP directory), so that accounts outside the directory a bridge
        # manages can be told apart from read-only ones.
        self.writable_directories: set[str] = {self.internal_directory}
        with self.lock:
            self.seed_instance()
            self.add_user(admin_user, "Administrator", f"{admin_user}@example.com", password=admin_password, admin=True)
            if admin_token:
                self.add_token(admin_user, admin_token)

    # -- product hooks ---------------------------------------------------------------------------

    def make_key(self, account_id: int, name: str) -> str:
        raise NotImplementedError

    # A second name the product finds users by (Bitbucket's slug), or None.
    alias: ClassVar[Callable[[str], str] | None] = None

    def seed_instance(self) -> None:
        """Create what a fresh instance has (licence and administrator groups)."""

    def grant_admin(self, name: str) -> None:
        raise NotImplementedError

    def is_admin(self, name: str) -> bool:
        raise NotImplementedError

    def error_response(
        self, status: int, message: str, *, fields: dict[str, str] | None = None, exception: str | None = None
    ) -> Response:
        """The product's error body; ``fields`` maps request fields to their validation errors,
        ``exception`` names the Java exception where the product reports one (Bitbucket)."""
        raise NotImplementedError

    def bad_credentials_response(self) -> Response:
        raise NotImplementedError

    def anonymous_response(self) -> Response:
        return self.error_response(401, "You are not authenticated. Authentication required to perform this operation.")

    def forbidden_response(self, caller: Caller) -> Response:
        raise NotImplementedError

    def extra_state(self) -> dict[str, Any]:
        return {}

    def version_at_least(self, minimum: str) -> bool:
        return _version_tuple(self.version) >= _version_tuple(minimum)

    def writable(self, account: Account) -> bool:
        """Accounts of other directories (LDAP, Crowd) are read-only unless the directory was made
        writable (``writable_directories``) (docs/products.md §1.7)."""
        return account.directory in self.writable_directories

    def canonical_path(self, path: str) -> str:
        for root in self.rest_roots[1:]:
            if path.startswith(root + "/"):
                return self.rest_roots[0] + path[len(root) :]
        return path

    # -- seeding and reading (public API for tests and the demo) -----------------------------------

    def add_user(
        self,
        name: str,
        display_name: str | None = None,
        email: str | None = None,
        *,
        password: str | None = None,
        active: bool = True,
        groups: Iterable[str] = (),
        admin: bool = False,
        key: str | None = None,
        directory: str | None = None,
    ) -> Account:
        """Create an account directly (no HTTP, no counting); missing groups are created."""
        with self.lock:
            fields: dict[str, Any] = {"password": password, "active": active}
            fields["directory"] = directory or self.internal_directory
            account = self.directory.add_user(
                name, display_name or name, email or f"{name}@example.com", key=key, **fields
            )
            for group in groups:
                self.add_member(group, name)
            if admin:
                self.grant_admin(name)
            return account

    def add_group(self, name: str) -> str:
        with self.lock:
            return self.directory.group(name) or self.directory.add_group(name)

    def add_member(self, group: str, user: str) -> None:
        with self.lock:
            if self.directory.user(user) is None:
                raise KeyError(f"{self.name} has no user {user!r}")
            self.directory.add_member(self.add_group(group), user)

    def remove_member(self, group: str, user: str) -> None:
        with self.lock:
            self.directory.remove_member(group, user)

    def add_token(self, user: str, token: str) -> None:
        """Let ``token`` authenticate as ``user`` (a personal access token, sent as Bearer)."""
        with self.lock:
            if self.directory.user(user) is None:
                raise KeyError(f"{self.name} has no user {user!r}")
            self.tokens[token] = user

    def user(self, name: str) -> Account | None:
        with self.lock:
            return self.directory.user(name)

    def members(self, group: str) -> list[str]:
        with self.lock:
            return [account.name for account in self.directory.members(group)]

    def groups_of(self, user: str) -> list[str]:
        with self.lock:
            return list(self.directory.groups_of(user))

    # -- state dump ------------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """Read-only JSON view of the whole state (never a password or token)."""
        with self.lock:
            users = [
                {
                    "name": a.name,
                    "key": a.key,
                    "displayName": a.display_name,
                    "email": a.email,
                    "active": a.active,
                    "directory": a.directory,
                    "groups": list(self.directory.groups_of(a.name)),
                }
                for a in self.directory.users()
            ]
            groups = [
                {"name": g, "members": [a.name for a in self.directory.members(g)]} for g in self.directory.groups()
            ]
            return {
                "product": self.name,
                "version": self.version,
                "users": users,
                "groups": groups,
                "calls": self.calls.snapshot(),
                "knobs": self.knobs.describe(),
                **self.extra_state(),
            }
