"""The plain data the translation layer works on: settings, SCIM snapshots, desired and applied
states, and the operations a plan is made of.

Everything here is frozen data with no behaviour beyond small derived properties, so that
``rules/`` stays a set of pure functions that the delivery layer feeds and executes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class AppliedUser:
    """What the bridge last applied on the target (the link row's ``applied`` JSON)."""

    name: str
    key: str | None = None
    display_name: str | None = None
    email: str | None = None
    active: bool | None = None
    groups: frozenset[str] = frozenset()  # groups the bridge put the user in


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


# -- plans -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One call to make on a target; ``kind`` names the DirectoryClient method family."""

    kind: str  # create_user | link_user | update_user | set_active | rename_user | delete_user |
    #            grant_licence | revoke_licence | create_group | delete_group | add_member | remove_member
    name: str  # the user or group the call is about
    group: str | None = None  # add_member / remove_member
    new_name: str | None = None  # rename_user
    display_name: str | None = None
    email: str | None = None
    active: bool | None = None
    application_keys: tuple[str, ...] = ()

    def describe(self) -> str:
        """A one-line human description, for the audit log and the dry-run plan."""
        details = {
            "add_member": f"add {self.name} to {self.group}",
            "remove_member": f"remove {self.name} from {self.group}",
            "rename_user": f"rename {self.name} to {self.new_name}",
            "set_active": f"{'activate' if self.active else 'deactivate'} {self.name}",
        }
        return details.get(self.kind, f"{self.kind.replace('_', ' ')} {self.name}")


@dataclass(frozen=True)
class Plan:
    """Operations in the order to run them, plus what the bridge deliberately did not do and why."""

    operations: tuple[Operation, ...] = ()
    skipped: str | None = None  # the whole resource is left alone on this target, and why
    notes: tuple[str, ...] = ()  # things reported without failing (e.g. Confluence cannot rename)
    # The user's or group's name on the target once every operation has run; None when skipped or
    # when nothing will exist there (deleted, never created).
    final_name: str | None = None
    # User plans: the link row's applied state once every operation has run (``key`` is None after
    # a create: take it from the client's answer); None when no account remains or when skipped.
    applied: AppliedUser | None = None
