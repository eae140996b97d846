"""The contract between the bridge and an Atlassian product: data shapes, the protocol, the errors.

Every operation of a :class:`DirectoryClient` is idempotent (docs/architecture.md decision 2): a create that
finds the account reports it (``Creation.created is False``) instead of failing, an add-member that
finds the membership succeeds, and removing something that is not there succeeds. A caller can
therefore repeat any operation after a crash or an ambiguous failure.

Errors form one small tree (what the bridge then does is decided in one place, the failure policy
``scim_bridge/sync/failure_policy.py``):

==================  ===========================================================
exception           meaning
==================  ===========================================================
``NotFound``        the thing the operation needs (user, group) does not exist
``Conflict``        the product refused because of the state of another object
``Rejected``        the product refused the request (validation, licence, ...)
``Unsupported``     this product or version has no way to do it (a ``Rejected``)
``Unavailable``     transient: network, 5xx, rate limit (see below)
``AuthFailed``      the credentials or the account's permissions are wrong
``WrongEndpoint``   ``base_url`` does not point at the product's REST API
==================  ===========================================================

Network failures, 429 and 502/503/504 are retried by the transport until the operation's deadline
before they become ``Unavailable`` (or ``RateLimited``); any other 5xx is ``Unavailable`` at once.

Every error carries the configured target name, a message that says what happened and, where there
is something to fix, what to fix; ``status`` (HTTP status or ``None``) and ``product_message`` (the
product's own words, from its error body).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, runtime_checkable

# --------------------------------------------------------------------------------------------------
# errors


class AtlassianError(Exception):
    """Base of every error a client raises."""

    def __init__(
        self, target: str, message: str, *, status: int | None = None, product_message: str | None = None
    ) -> None:
        self.target = target
        self.message = message
        self.status = status
        self.product_message = product_message
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"target {self.target!r}: {self.message}"
        if self.product_message and self.product_message not in self.message:
            text += f" (the product said: {self.product_message})"
        return text


class NotFound(AtlassianError):
    """The user or group the operation needs does not exist on the target."""


class Conflict(AtlassianError):
    """The product refused because of other state (e.g. Bitbucket: cannot delete yourself)."""


class Rejected(AtlassianError):
    """The product refused the request as invalid or not allowed for this object."""


class LicenceLimit(Rejected):
    """No licence left: Confluence 402, Bitbucket 403 'would exceed the server's license limit'."""


class Unsupported(Rejected):
    """The product or its version has no REST call for this; see :class:`Capabilities`."""


class Unavailable(AtlassianError):
    """Transient failure: the product could not be reached or answered 5xx (see the module docstring)."""


class RateLimited(Unavailable):
    """The product kept answering 429 until the deadline; ``retry_after`` is its last hint in seconds."""

    def __init__(self, *args, retry_after: float | None = None, **kwargs) -> None:
        self.retry_after = retry_after
        super().__init__(*args, **kwargs)


class AuthFailed(AtlassianError):
    """The product refused the credentials (401), or basic auth is disabled on it."""


class PermissionDenied(AuthFailed):
    """The credentials work but the account lacks a permission the operation needs (403)."""


class WrongEndpoint(AtlassianError):
    """What answered is not the product's REST API: a wrong ``base_url`` or missing context path."""


# --------------------------------------------------------------------------------------------------
# data shapes


@dataclass(frozen=True)
class RemoteUser:
    """An account as the product reports it.

    ``name`` is the login name. ``key`` is the product's stable id for the account, which is not the
    name: Jira's user key (``JIRAUSER10100`` for accounts created since 8.4), Confluence's hex
    ``userKey``, Bitbucket's numeric ``id``; ``None`` where the answer did not carry it. ``active``
    is ``None`` when the product does not say. ``directory`` is the user directory the account
    lives in where the product tells it (Bitbucket ``directoryName``), else ``None``; ``mutable`` is
    ``False`` when the product says the account's details cannot be changed (read-only LDAP).
    """

    name: str
    key: str | None = None
    display_name: str | None = None
    email: str | None = None
    active: bool | None = None
    directory: str | None = None
    mutable: bool | None = None


@dataclass(frozen=True)
class RemoteGroup:
    """A group as the product reports it (groups are identified by name on every product)."""

    name: str


@dataclass(frozen=True)
class UserDirectory:
    """A user directory the product lists (only Bitbucket exposes this over REST)."""

    name: str
    type: str | None = None
    active: bool | None = None


@dataclass(frozen=True)
class ApplicationRole:
    """A Jira application (``jira-software``, ``jira-servicedesk``): what a Jira licence is.
    ``seats`` is ``None`` when unlimited or not said; ``user_count`` the seats in use, if said."""

    key: str
    name: str
    selected_by_default: bool = False
    default_groups: tuple[str, ...] = ()
    user_count: int | None = None
    seats: int | None = None
    remaining: int | None = None  # seats left, where Jira says (``remainingSeats``)


@dataclass(frozen=True)
class Capabilities:
    """What this product, at this version, can do through REST.

    ``licence`` names what :meth:`DirectoryClient.grant_licence` changes, for messages.
    """

    can_create_user: bool = True
    can_deactivate: bool = False
    can_rename_user: bool = False
    can_rename_group: bool = False
    can_find_by_email: bool = False
    # Projects and components have leads the bridge hands over before a deactivation (Jira,
    # docs/products.md §2.13); off where the product has no such thing the bridge reports.
    can_hand_over_leads: bool = False
    # The product tells how many licence seats are used of how many (``DirectoryClient.seats``):
    # Jira's application roles, Bitbucket's licence (docs/products.md §1.11); the seat guard needs it.
    can_read_seats: bool = False
    # The product says who administers its spaces (Confluence 9.1) or projects and repositories
    # (Bitbucket): ``DirectoryClient.administered_alone`` reports a leaver who is the only one
    # (docs/products.md §3.14, §4.15); the bridge reports it and changes nothing.
    can_report_sole_admins: bool = False
    # One call puts an account in several groups (Bitbucket, docs/products.md §4.9): the client then
    # has ``add_memberships(username, groups)``, as ``add_member`` each but a refusal not saying
    # which group refused. Not part of ``DirectoryClient``: a client without it adds one at a time.
    can_add_groups_at_once: bool = False
    licence: str = ""


@dataclass(frozen=True)
class LedComponent:
    """A component an account leads: its id (what the product updates) and how people name it."""

    id: str
    project: str
    name: str

    @property
    def label(self) -> str:
        return f"{self.project}/{self.name}"


@dataclass(frozen=True)
class Led:
    """What one account leads: project keys and components."""

    projects: tuple[str, ...] = ()
    components: tuple[LedComponent, ...] = ()


@dataclass(frozen=True)
class Seats:
    """The user licence's seats as the product reports them (docs/products.md §1.11): ``used`` of
    ``total``; ``licence`` names which licence (a Jira application key, Bitbucket's server licence)."""

    used: int
    total: int
    licence: str = ""

    @property
    def remaining(self) -> int:
        return max(self.total - self.used, 0)

    def __str__(self) -> str:
        return f"{self.used} of {self.total} seats"


@dataclass(frozen=True)
class ProductInfo:
    """The product, its version and what it can do; ``directories`` is ``None`` when not exposed."""

    product: str
    version: str
    build: str | None
    capabilities: Capabilities
    directories: tuple[UserDirectory, ...] | None = None

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return version_tuple(self.version)


T = TypeVar("T")


@dataclass(frozen=True)
class Creation(Generic[T]):
    """The result of an idempotent create.

    ``created`` is ``False`` when the product said the name was taken and the existing object is
    returned instead (the caller decides whether to link it). After an ambiguous failure (timeout,
    reset, 5xx) the client looks the object up; finding it counts as ``created=True``, and so does
    "name taken" when the create had to be sent again after such a failure.
    """

    resource: T
    created: bool = field(default=True)


def version_tuple(version: str) -> tuple[int, ...]:
    """``"10.3.24"`` -> ``(10, 3, 24)``; the leading dotted numbers only (``"9.4.0-rc1"`` -> ``(9, 4, 0)``)."""
    leading = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(part) for part in leading.group().split(".")) if leading else ()


# --------------------------------------------------------------------------------------------------
# the protocol


@runtime_checkable
class DirectoryClient(Protocol):
    """One Atlassian product's user directory, as the bridge uses it.

    Names are the product's login names and group names (after the bridge's name rules). Methods
    that change state return ``None`` unless stated; all are idempotent as described above.
    """

    target: str

    def product_info(self) -> ProductInfo:
        """Version, build, capabilities and user directories (read once, then cached)."""

    def capabilities(self) -> Capabilities:
        """Shortcut for ``product_info().capabilities``."""

    def get_user(self, username: str) -> RemoteUser | None:
        """The account with this login name (case-insensitive, as the products compare), or ``None``."""

    def find_users_by_email(self, email: str) -> list[RemoteUser]:
        """Accounts whose e-mail address equals ``email`` (case-insensitive); ``Unsupported`` if impossible."""

    def create_user(
        self,
        username: str,
        display_name: str,
        email: str,
        *,
        password: str | None = None,
        application_keys: tuple[str, ...] | None = None,
    ) -> Creation[RemoteUser]:
        """Create the account, or return the existing one with ``created=False``.

        ``password`` ``None`` means the product's own choice or a random one (SSO set-ups).
        ``application_keys`` grants Jira application access on create (ignored elsewhere); ``None``
        or empty means the client's configured keys, else the applications Jira selects by default.
        """

    def update_user(self, username: str, *, display_name: str | None = None, email: str | None = None) -> None:
        """Change display name and/or e-mail; fields left ``None`` are not sent."""

    def set_active(self, username: str, active: bool) -> None:
        """Activate or deactivate; ``Unsupported`` where ``capabilities().can_deactivate`` is false."""

    def rename_user(self, old: str, new: str) -> None:
        """Change the login name; already renamed counts as done; ``Unsupported`` where impossible."""

    def delete_user(self, username: str) -> None:
        """Delete the account; absent already counts as done."""

    def iter_users(self) -> Iterator[RemoteUser]:
        """Every account, page by page."""

    def get_group(self, name: str) -> RemoteGroup | None:
        """The group with this name, or ``None``."""

    def create_group(self, name: str) -> Creation[RemoteGroup]:
        """Create the group, or return the existing one with ``created=False``."""

    def delete_group(self, name: str) -> None:
        """Delete the group; absent already counts as done."""

    def iter_groups(self) -> Iterator[RemoteGroup]:
        """Every group, page by page."""

    def iter_group_members(self, group: str) -> Iterator[RemoteUser]:
        """The group's direct members, page by page; ``NotFound`` if the group does not exist."""

    def user_groups(self, username: str) -> list[str]:
        """Names of the groups the account belongs to; ``NotFound`` if the account does not exist."""

    def get_user_and_groups(self, username: str) -> tuple[RemoteUser | None, list[str] | None]:
        """``get_user``, with the account's groups where the product tells both in one answer (Jira),
        else ``None`` for them: ask ``user_groups`` then."""

    def add_member(self, group: str, username: str) -> None:
        """Put the account in the group; already a member counts as done."""

    def remove_member(self, group: str, username: str) -> None:
        """Take the account out of the group; not a member (or either absent) counts as done."""

    def grant_licence(self, username: str) -> None:
        """Let the account use the product (see ``capabilities().licence`` for what that changes)."""

    def revoke_licence(self, username: str) -> None:
        """Undo :meth:`grant_licence`; already unlicensed counts as done."""

    # Optional: only where ``capabilities().can_hand_over_leads`` (docs/products.md §2.13).

    def led_by(self, username: str) -> Led:
        """The projects and components the account leads (names compared case-insensitively)."""

    def set_project_lead(self, project: str, username: str) -> None:
        """Make the account the lead of the project (its key); already its lead counts as done."""

    def set_component_lead(self, component: str, username: str) -> None:
        """Make the account the lead of the component (its id); already its lead counts as done."""

    # Optional: only where ``capabilities().can_report_sole_admins`` (docs/products.md §3.14, §4.15).

    def administered_alone(self, username: str) -> tuple[str, ...]:
        """What the account is the only administrator of, for people: ``space DOCS``,
        ``project PRJ``, ``repository PRJ/app``; empty when nothing (or the product cannot say)."""

    # Optional: only where ``capabilities().can_read_seats`` (docs/products.md §1.11).

    def seats(self) -> Seats | None:
        """The licence's seats as the product counts them now; ``None`` when the licence is unlimited."""
