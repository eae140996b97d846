"""One target read in bulk for a reconciliation: every account, every group, and the members of the
groups the plans can touch, each read through the product's list calls page by page (the clients'
``iter_users``, ``iter_groups``, ``iter_group_members``), instead of one look-up per stored resource.

:class:`TargetView` then answers the reads delivery's planning makes (``get_user``,
``find_users_by_email``, ``user_groups``, ``get_group``, ``capabilities``) from memory, so
``Delivery.prepare_user`` plans every stored user against it with the same code as a delivery. Any
other call (``led_by`` for a leaver, whatever mutates) goes to the real client; but the view is only
given to planning: what a plan changes is made by the executor on the real target.

Which groups' members are read: those a plan may add to or take away from, i.e. the groups the
store's users are to be in on this target, the managed ones (``managed_groups``: every SCIM group,
mapped, and ``default_groups``) -- or every group when ``groups.keep_unmanaged`` is off, since a
delivery then takes an account out of any group it should not be in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from atlassian_clients.base import Capabilities, DirectoryClient, NotFound, RemoteGroup, RemoteUser
from scim_bridge.rules.names import managed_groups, name_key

# (stage, done, total or None): "accounts" read, "groups" whose members are read, resources "compared".
Tick = Callable[[str, int, "int | None"], None]
EVERY = 200  # accounts between two progress ticks while listing


@dataclass
class TargetView:
    client: DirectoryClient
    users: dict[str, RemoteUser] = field(default_factory=dict)  # name_key -> account
    by_email: dict[str, list[RemoteUser]] = field(default_factory=dict)  # lower-cased address -> accounts
    groups: dict[str, str] = field(default_factory=dict)  # name_key -> the product's spelling
    members: dict[str, set[str]] = field(default_factory=dict)  # user name_key -> group spellings (read ones)

    @property
    def target(self) -> str:
        return self.client.target

    # -- reading ---------------------------------------------------------------------------------------

    @classmethod
    def read(cls, client: DirectoryClient, *, wanted_groups: Iterable[str], store_groups: Iterable[str],
             rules, tick: Tick = lambda *_: None) -> TargetView:
        """List the target. ``wanted_groups``: the groups the store's users are to be in there;
        ``store_groups``: the display names of the stored SCIM groups (``managed_groups`` maps them).
        Raises the client's ``AtlassianError`` as soon as a call fails (after the HTTP policy's retries)."""
        view = cls(client)
        client.capabilities()  # the product's version decides which list call is used
        for count, account in enumerate(client.iter_users(), 1):
            view.users[name_key(account.name)] = account
            if account.email:
                view.by_email.setdefault(account.email.lower(), []).append(account)
            if count % EVERY == 0:
                tick("accounts", count, None)
        tick("accounts", len(view.users), len(view.users))
        view.groups = {name_key(g.name): g.name for g in client.iter_groups()}
        if rules.groups.sync_members and not rules.groups.keep_unmanaged:
            relevant = list(view.groups.values())
        else:
            keys = {name_key(g) for g in (*wanted_groups, *managed_groups(store_groups, rules))}
            relevant = [spelling for key, spelling in view.groups.items() if key in keys]
        if rules.groups.sync_members or rules.default_groups:
            for done, group in enumerate(sorted(relevant), 1):
                try:
                    for account in client.iter_group_members(group):
                        view.members.setdefault(name_key(account.name), set()).add(group)
                except NotFound:
                    continue  # deleted between the two listings: it has no members
                tick("groups", done, len(relevant))
        return view

    # -- what planning reads ------------------------------------------------------------------------

    def capabilities(self) -> Capabilities:
        return self.client.capabilities()

    def get_user(self, username: str) -> RemoteUser | None:
        return self.users.get(name_key(username))

    def find_users_by_email(self, email: str) -> list[RemoteUser]:
        return list(self.by_email.get(email.lower(), ()))

    def get_user_and_groups(self, username: str) -> tuple[RemoteUser | None, None]:
        return self.get_user(username), None  # the members read are asked through user_groups

    def user_groups(self, username: str) -> list[str]:
        if name_key(username) not in self.users:
            raise NotFound(self.target, f"no account {username!r}")
        return sorted(self.members.get(name_key(username), ()))

    def get_group(self, name: str) -> RemoteGroup | None:
        found = self.groups.get(name_key(name))
        return None if found is None else RemoteGroup(found)

    def __getattr__(self, name: str):
        return getattr(self.client, name)
