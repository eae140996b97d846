"""The plain data the translation layer works on: settings, SCIM snapshots, desired and applied
states, and the operations a plan is made of.

Everything here is frozen data with no behaviour beyond small derived values, so that ``rules/``
stays a set of pure functions that the delivery layer feeds and executes. The operations themselves
are in ``operations.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from atlassian_clients.base import LedComponent

if TYPE_CHECKING:
    from scim_bridge.rules.operations import Operation

# -- settings (config.yaml ``rules:`` globally, ``targets.<name>.rules:`` per target) ------------


@dataclass(frozen=True)
class UsernameRule:
    """SCIM ``userName`` → Atlassian username. ``regex`` None keeps the name (then lower-cases)."""

    regex: str | None = None
    replacement: str = "$1"  # ``$1`` and ``\\1`` both name the first group
    lowercase: bool = True


@dataclass(frozen=True)
class UserRules:
    create: bool = True
    update: bool = True
    activate: bool = True
    deactivate: bool = True
    on_delete: str = "deactivate"  # deactivate | delete | ignore
    match_existing: str = "username"  # username | email | none
    protected: tuple[str, ...] = ()  # usernames or glob patterns, compared case-insensitively


@dataclass(frozen=True)
class GroupNameRule:
    regex: str | None = None
    replacement: str | None = None
    lowercase: bool = False


@dataclass(frozen=True)
class GroupRules:
    create: bool = True
    delete: bool = False
    sync_members: bool = True
    include: tuple[str, ...] = ()  # regexes on the SCIM displayName; empty: every group
    exclude: tuple[str, ...] = ()
    name: GroupNameRule = field(default_factory=GroupNameRule)
    keep_unmanaged: bool = True


@dataclass(frozen=True)
class HandoverRules:
    """Who takes over what a leaver leads (Jira projects and components) when no manager can."""

    default_lead: str | None = None  # a username on the target; None: park the leaver instead


@dataclass(frozen=True)
class TargetRules:
    """The effective rules of one target: the global settings with the target's overrides."""

    product: str  # jira | confluence | bitbucket | the dotted type of a plug-in client
    username: UsernameRule = field(default_factory=UsernameRule)
    users: UserRules = field(default_factory=UserRules)
    directory: str | None = None
    groups: GroupRules = field(default_factory=GroupRules)
    default_groups: tuple[str, ...] = ()
    application_keys: tuple[str, ...] = ()  # Jira application access on create
    deactivate_with: str = "remove_license"  # Bitbucket: remove_license | delete
    handover: HandoverRules = field(default_factory=HandoverRules)
    dry_run: bool = False


# -- what the store says (the SCIM side) --------------------------------------------------------


@dataclass(frozen=True)
class UserSnapshot:
    id: str
    user_name: str
    display_name: str  # displayName, else name.formatted, else given + family, else userName
    email: str | None  # primary, else work, else first
    active: bool
    deleted: bool  # tombstoned: the IdP deleted the user
    groups: tuple[str, ...] = ()  # displayNames of the live SCIM groups the user is in
    manager_id: str | None = None  # the enterprise extension's manager.value: a SCIM user id


@dataclass(frozen=True)
class GroupSnapshot:
    id: str
    display_name: str
    deleted: bool


# -- desired and applied states ------------------------------------------------------------------


@dataclass(frozen=True)
class DesiredUser:
    name: str  # the Atlassian username after the rules
    display_name: str
    email: str | None
    active: bool
    deleted: bool
    groups: frozenset[str]  # target group names the user should be in (mapped SCIM groups + defaults)
    # The mapped names of the user's SCIM groups: each is created on the target by that group's own
    # delivery, never by a user's (docs/architecture.md, "Delivery and the worker").
    pushed_groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AppliedUser:
    """What the bridge last applied on the target (the link row's ``applied`` JSON)."""

    name: str
    key: str | None = None
    display_name: str | None = None
    email: str | None = None
    active: bool | None = None
    groups: frozenset[str] = frozenset()  # groups the bridge put the user in

    def link_state(self) -> dict:
        """As the link row's ``applied`` JSON keeps it."""
        return {"name": self.name, "key": self.key, "display_name": self.display_name, "email": self.email,
                "active": self.active, "groups": sorted(self.groups)}

    # How operations on groups advance a user's state (rules/operations.py): a user records its
    # memberships; creating or deleting a group changes nothing of the account.
    def member_added(self, group: str) -> AppliedUser:
        return replace(self, groups=self.groups | {group})

    def member_removed(self, group: str) -> AppliedUser:
        return replace(self, groups=self.groups - {group})

    def group_created(self, name: str) -> AppliedUser:
        return self

    def group_deleted(self, name: str) -> AppliedUser:
        return self


@dataclass(frozen=True)
class AppliedGroup:
    """What the bridge applied for a SCIM group on a target: the name it has there (None: none yet)."""

    name: str | None = None

    def link_state(self) -> dict | None:
        return {"name": self.name} if self.name else None

    # During a rename the state keeps the old name until the members have moved: a failure half-way
    # then leaves the rename for the next attempt to finish.
    def group_created(self, name: str) -> AppliedGroup:
        return self if self.name is not None else AppliedGroup(name)

    def group_deleted(self, name: str) -> AppliedGroup:
        return AppliedGroup(None) if self.name is not None and self.name == name else self

    # Memberships are per user (docs/architecture.md, decision 3): a group's state holds none.
    def member_added(self, group: str) -> AppliedGroup:
        return self

    def member_removed(self, group: str) -> AppliedGroup:
        return self


@dataclass(frozen=True)
class RemoteAccount:
    """The account as the target reports it now (read before planning)."""

    name: str
    key: str | None = None
    display_name: str | None = None
    email: str | None = None
    active: bool | None = None
    directory: str | None = None
    groups: frozenset[str] | None = None  # None when not read
    mutable: bool | None = None  # False: the product says its details cannot change (read-only LDAP)


@dataclass(frozen=True)
class DesiredGroup:
    name: str  # the Atlassian group name after the rules
    deleted: bool


@dataclass(frozen=True)
class Leadership:
    """What an account leads on the target, and who would take it over (read before planning a
    deactivation or deletion; docs/products.md §2.13). ``successor`` is the manager's account when
    that user is linked and active on the target, else ``handover.default_lead``, else None."""

    projects: tuple[str, ...] = ()  # project keys
    components: tuple[LedComponent, ...] = ()
    successor: str | None = None

    @property
    def leads(self) -> bool:
        return bool(self.projects or self.components)


# -- plans -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Operations in the order to run them, plus what the bridge deliberately did not do and why."""

    operations: tuple[Operation, ...] = ()  # rules/operations.py
    skipped: str | None = None  # the whole resource is left alone on this target, and why
    notes: tuple[str, ...] = ()  # things reported without failing (e.g. Confluence cannot rename)
    # What the product says and the bridge reports, one audit entry each, and leaves as it is (a
    # leaver who is the only administrator of a space or repository, docs/products.md §3.14, §4.15).
    reports: tuple[str, ...] = ()
    # The user's or group's name on the target once every operation has run; None when skipped or
    # when nothing will exist there (deleted, never created).
    final_name: str | None = None
    # User plans: the link row's applied state once every operation has run (``key`` is None after
    # a create: take it from the client's answer); None when no account remains or when skipped.
    applied: AppliedUser | None = None
    # User plans: the memberships of groups missing on the target that their SCIM group's own
    # delivery creates; they run once the groups exist (docs/architecture.md). A dry run lists them.
    awaiting: tuple[Operation, ...] = ()
    # Group plans: the accounts a rename moves into the new group (their links must then name it).
    moved: tuple[str, ...] = ()
    # The plan must not run, and the row is parked with this message until the resource changes or
    # ``scim-bridge retry`` (a leaver who leads projects and has no successor).
    refused: str | None = None
