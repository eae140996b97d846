"""An in-memory :class:`~atlassian_clients.base.DirectoryClient` for the unit tests of ``sync/``.

It keeps accounts, groups, memberships and licences in dicts (names compared case-insensitively, as
the products compare them), is idempotent as the protocol says, logs every call, and can be told to
fail a method (``fail("add_member", KeyError("boom"))``) or to refuse every mutating call
(``forbid_mutations = True``: the call is logged in ``forbidden`` and raises, so a dry-run test fails
whichever layer swallows the exception).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace

from atlassian_clients.base import (
    Capabilities,
    Creation,
    Led,
    LedComponent,
    NotFound,
    ProductInfo,
    RemoteGroup,
    RemoteUser,
)

READS = frozenset({"product_info", "capabilities", "get_user", "find_users_by_email", "iter_users", "get_group",
                   "iter_groups", "iter_group_members", "user_groups", "led_by", "administered_alone"})
MUTATING = frozenset({"create_user", "update_user", "set_active", "rename_user", "delete_user", "create_group",
                      "delete_group", "add_member", "add_memberships", "remove_member", "grant_licence",
                      "revoke_licence", "set_project_lead", "set_component_lead"})

JIRA_LIKE = Capabilities(can_deactivate=True, can_rename_user=True, can_find_by_email=True,
                         can_hand_over_leads=True, licence="application")
BITBUCKET_LIKE = Capabilities(can_deactivate=False, can_rename_user=True, can_find_by_email=True,
                              can_add_groups_at_once=True, licence="LICENSED_USER")


def _key(name: str) -> str:
    return name.casefold()


class MemoryDirectory:
    def __init__(self, target: str = "jira", *, capabilities: Capabilities = JIRA_LIKE, call_delay: float = 0.0):
        self.target = target
        self._capabilities = capabilities
        self.call_delay = call_delay  # widens race windows in concurrency tests
        self.lock = threading.RLock()
        self.users: dict[str, RemoteUser] = {}
        self.groups: dict[str, str] = {}  # folded name -> spelling
        self.members: dict[str, set[str]] = {}  # folded group -> folded user names
        self.licensed: set[str] = set()
        self.project_leads: dict[str, str] = {}  # project key -> lead's name
        self.components: dict[str, LedComponent] = {}  # id -> component
        self.component_leads: dict[str, str] = {}  # id -> lead's name
        self.calls: list[tuple[str, tuple]] = []
        self.forbidden: list[tuple[str, tuple]] = []
        self.forbid_mutations = False
        self._failures: dict[str, BaseException] = {}
        self._next_key = 10100

    # -- test controls ------------------------------------------------------------------------------

    def fail(self, method: str, error: BaseException | None) -> None:
        """Every call of ``method`` raises ``error`` from now on (None: stop failing)."""
        if error is None:
            self._failures.pop(method, None)
        else:
            self._failures[method] = error

    def seed_user(self, name: str, display_name: str = "", email: str = "", *, active: bool = True,
                  groups: tuple[str, ...] = ()) -> None:
        with self.lock:
            self._add_user(name, display_name or name, email or f"{name}@example.com", active)
            for group in groups:
                self.groups.setdefault(_key(group), group)
                self.members.setdefault(_key(group), set()).add(_key(name))

    def seed_group(self, name: str) -> None:
        with self.lock:
            self.groups.setdefault(_key(name), name)
            self.members.setdefault(_key(name), set())

    def mutations(self) -> list[tuple[str, tuple]]:
        return [call for call in self.calls if call[0] in MUTATING]

    def count(self, method: str, *args) -> int:
        return sum(1 for name, called in self.calls if name == method and called[:len(args)] == args)

    def member_names(self, group: str) -> set[str]:
        with self.lock:
            return {self.users[u].name for u in self.members.get(_key(group), ())}

    # -- bookkeeping -------------------------------------------------------------------------------

    def _enter(self, method: str, *args) -> None:
        with self.lock:
            self.calls.append((method, args))
            if method in MUTATING and self.forbid_mutations:
                self.forbidden.append((method, args))
                raise AssertionError(f"mutating call {method}{args} in a dry run")
            failure = self._failures.get(method)
        if self.call_delay:
            time.sleep(self.call_delay)  # a slow product: lets concurrent deliveries interleave
        if failure is not None:
            raise failure

    def _add_user(self, name: str, display_name: str, email: str, active: bool) -> RemoteUser:
        user = RemoteUser(name, f"JIRAUSER{self._next_key}", display_name, email, active)
        self._next_key += 1
        self.users[_key(name)] = user
        return user

    def _account(self, name: str) -> RemoteUser:
        user = self.users.get(_key(name))
        if user is None:
            raise NotFound(self.target, f"no user {name}", status=404)
        return user

    # -- the protocol ------------------------------------------------------------------------------

    def product_info(self) -> ProductInfo:
        self._enter("product_info")
        return ProductInfo("memory", "1.0", None, self._capabilities)

    def capabilities(self) -> Capabilities:
        return self._capabilities  # read as configuration, not a call on the product

    def get_user(self, username: str) -> RemoteUser | None:
        self._enter("get_user", username)
        with self.lock:
            return self.users.get(_key(username))

    def find_users_by_email(self, email: str) -> list[RemoteUser]:
        self._enter("find_users_by_email", email)
        with self.lock:
            return [u for u in self.users.values() if (u.email or "").casefold() == email.casefold()]

    def create_user(self, username, display_name, email, *, password=None, application_keys=None) -> Creation:
        self._enter("create_user", username)
        with self.lock:
            found = self.users.get(_key(username))
            if found is not None:
                return Creation(found, created=False)
            self.licensed.add(_key(username))
            return Creation(self._add_user(username, display_name, email, True))

    def update_user(self, username, *, display_name=None, email=None) -> None:
        self._enter("update_user", username)
        with self.lock:
            user = self._account(username)
            self.users[_key(username)] = replace(user, display_name=display_name or user.display_name,
                                                 email=email or user.email)

    def set_active(self, username: str, active: bool) -> None:
        self._enter("set_active", username, active)
        with self.lock:
            self.users[_key(username)] = replace(self._account(username), active=active)

    def rename_user(self, old: str, new: str) -> None:
        self._enter("rename_user", old, new)
        with self.lock:
            user = self.users.pop(_key(old))
            self.users[_key(new)] = replace(user, name=new)
            for members in self.members.values():
                if _key(old) in members:
                    members.discard(_key(old))
                    members.add(_key(new))

    def delete_user(self, username: str) -> None:
        self._enter("delete_user", username)
        with self.lock:
            self.users.pop(_key(username), None)
            for members in self.members.values():
                members.discard(_key(username))

    def iter_users(self) -> Iterator[RemoteUser]:
        self._enter("iter_users")
        with self.lock:
            users = sorted(self.users.values(), key=lambda u: _key(u.name))
        yield from users

    def get_group(self, name: str) -> RemoteGroup | None:
        self._enter("get_group", name)
        with self.lock:
            found = self.groups.get(_key(name))
        return None if found is None else RemoteGroup(found)

    def create_group(self, name: str) -> Creation:
        self._enter("create_group", name)
        with self.lock:
            if _key(name) in self.groups:
                return Creation(RemoteGroup(self.groups[_key(name)]), created=False)
            self.groups[_key(name)] = name
            self.members[_key(name)] = set()
            return Creation(RemoteGroup(name))

    def delete_group(self, name: str) -> None:
        self._enter("delete_group", name)
        with self.lock:
            self.groups.pop(_key(name), None)
            self.members.pop(_key(name), None)

    def iter_groups(self) -> Iterator[RemoteGroup]:
        self._enter("iter_groups")
        with self.lock:
            names = sorted(self.groups.values())
        yield from (RemoteGroup(n) for n in names)

    def iter_group_members(self, group: str) -> Iterator[RemoteUser]:
        self._enter("iter_group_members", group)
        with self.lock:
            if _key(group) not in self.groups:
                raise NotFound(self.target, f"no group {group}", status=404)
            found = [self.users[u] for u in sorted(self.members[_key(group)])]
        yield from found

    def get_user_and_groups(self, username: str) -> tuple[RemoteUser | None, list[str] | None]:
        return self.get_user(username), None

    def user_groups(self, username: str) -> list[str]:
        self._enter("user_groups", username)
        with self.lock:
            self._account(username)
            return sorted(self.groups[g] for g, members in self.members.items() if _key(username) in members)

    def add_member(self, group: str, username: str) -> None:
        self._enter("add_member", group, username)
        with self.lock:
            if _key(group) not in self.groups:
                raise NotFound(self.target, f"no group {group}", status=404, product_message="group not found")
            self._account(username)
            self.members[_key(group)].add(_key(username))

    def add_memberships(self, username: str, groups: list[str]) -> None:
        """Only where the capabilities say so (Bitbucket's add-groups): every group or none."""
        self._enter("add_memberships", username, tuple(groups))
        with self.lock:
            missing = [g for g in groups if _key(g) not in self.groups]
            if missing:
                raise NotFound(self.target, "a group is missing", status=404, product_message="group not found")
            self._account(username)
            for group in groups:
                self.members[_key(group)].add(_key(username))

    def remove_member(self, group: str, username: str) -> None:
        self._enter("remove_member", group, username)
        with self.lock:
            self.members.get(_key(group), set()).discard(_key(username))

    def grant_licence(self, username: str) -> None:
        self._enter("grant_licence", username)
        with self.lock:
            self.licensed.add(_key(username))

    def revoke_licence(self, username: str) -> None:
        self._enter("revoke_licence", username)
        with self.lock:
            self.licensed.discard(_key(username))

    def seed_project(self, key: str, lead: str, components: dict[str, str | None] | None = None) -> None:
        """A project led by ``lead`` with components (name -> lead, None: no lead); ids count from 10000."""
        with self.lock:
            self.project_leads[key] = lead
            for name, component_lead in (components or {}).items():
                component = LedComponent(str(10000 + len(self.components)), key, name)
                self.components[component.id] = component
                if component_lead:
                    self.component_leads[component.id] = component_lead

    def led_by(self, username: str) -> Led:
        self._enter("led_by", username)
        with self.lock:
            return Led(tuple(k for k, lead in self.project_leads.items() if _key(lead) == _key(username)),
                       tuple(c for i, c in self.components.items()
                             if _key(self.component_leads.get(i, "")) == _key(username)))

    def set_project_lead(self, project: str, username: str) -> None:
        self._enter("set_project_lead", project, username)
        with self.lock:
            self.project_leads[project] = username

    def set_component_lead(self, component: str, username: str) -> None:
        self._enter("set_component_lead", component, username)
        with self.lock:
            self.component_leads[component] = username

    def administered_alone(self, username: str) -> tuple[str, ...]:
        """Nothing: the memory client administers no spaces or repositories."""
        self._enter("administered_alone", username)
        return ()

    def seats(self):
        """Unlimited: the memory client's capabilities do not say ``can_read_seats`` unless a test sets it."""
        self._enter("seats")
        return None
