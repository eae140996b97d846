"""SQLAlchemy models of the store: what identity providers asked for, and what carries it to targets.

The same models run on SQLite (the embedded default) and PostgreSQL. Case-insensitive uniqueness of
``userName`` and group ``displayName`` (RFC 7643 §4.1.1, §4.2) is a unique index on a lower-cased
column filled by the repository, so lookups hit a plain B-tree index on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# JSONB on PostgreSQL for its operators; JSON (text with json1 functions) on SQLite.
Document = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both databases (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(512))
    # Lower-cased userName; NULL once tombstoned so the IdP may reuse the name at once.
    user_name_lower: Mapped[str | None] = mapped_column(String(512), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(512), index=True)
    display_name: Mapped[str | None] = mapped_column(String(512))
    display_name_lower: Mapped[str | None] = mapped_column(String(512), index=True)
    primary_email_lower: Mapped[str | None] = mapped_column(String(512), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The SCIM resource without id, meta and groups. No password: the bridge never sends one to a
    # target, so it keeps none, not even a hash (RFC 7643 §7 writeOnly, returned never).
    resource: Mapped[dict] = mapped_column(Document)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Set by DELETE while targets still deprovision the account; invisible to SCIM from then on.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserEmail(Base):
    """One row per email value: ``emails.value eq`` and ``emails[type eq "work"].value eq`` use an index."""

    __tablename__ = "user_emails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    value_lower: Mapped[str] = mapped_column(String(512))
    type: Mapped[str | None] = mapped_column(String(64))
    primary: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_user_emails_value_lower", "value_lower", "type"),)


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(512))
    display_name_lower: Mapped[str | None] = mapped_column(String(512), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(512), index=True)
    # The SCIM resource without id, meta and members (those live in group_members).
    resource: Mapped[dict] = mapped_column(Document)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class GroupMember(Base):
    """One row per membership, indexed both ways (a group's members; a user's groups)."""

    __tablename__ = "group_members"

    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)

    __table_args__ = (Index("ix_group_members_user", "user_id", "group_id"),)


class Link(Base):
    """What the bridge last applied for one resource on one target, and how that went."""

    __tablename__ = "links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(16))
    resource_id: Mapped[str] = mapped_column(String(36))
    target: Mapped[str] = mapped_column(String(128))
    # The name the rules give the resource on the target, reserved at SCIM write time.
    remote_name: Mapped[str | None] = mapped_column(String(512))
    remote_name_lower: Mapped[str | None] = mapped_column(String(512))
    # The name the account or group really has there now (stays reserved too: after an IdP rename
    # the old name is still this account's until the rename is applied, and forever on Confluence).
    applied_name_lower: Mapped[str | None] = mapped_column(String(512))
    # The product's own key of the account (Jira user key, Bitbucket id): one account, one link.
    remote_key: Mapped[str | None] = mapped_column(String(512))
    applied: Mapped[dict | None] = mapped_column(Document)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("resource_type", "resource_id", "target", name="uq_links_resource_target"),
        # Two IdP users that the rules map to one Atlassian account collide here.
        UniqueConstraint("target", "resource_type", "remote_name_lower", name="uq_links_remote_name"),
        Index("ix_links_applied_name", "target", "resource_type", "applied_name_lower"),
        Index("ix_links_remote_key", "target", "resource_type", "remote_key"),
    )


class OutboxRow(Base):
    """"Bring resource R in line on target T": at most one row per (resource, target)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(16))
    resource_id: Mapped[str] = mapped_column(String(36))
    target: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | parked
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped by every SCIM change, so a delivery that raced a newer change does not drop the row.
    generation: Mapped[int] = mapped_column(Integer, default=1)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("resource_type", "resource_id", "target", name="uq_outbox_resource_target"),
        # Claims and the worker's "when is the next row claimable" are per target: in due order
        # (id breaks ties, as the claim orders), and the few rows under a lease by their lease.
        Index("ix_outbox_claim", "target", "state", "due_at", "id"),
        Index("ix_outbox_lease", "target", "lease_until"),
    )


class AuditEntry(Base):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))  # token name, "worker" or "cli"
    scope: Mapped[str] = mapped_column(String(128))  # "scim" or a target's name
    action: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str | None] = mapped_column(String(16))
    resource_id: Mapped[str | None] = mapped_column(String(36), index=True)
    before: Mapped[dict | None] = mapped_column(Document)
    after: Mapped[dict | None] = mapped_column(Document)
    outcome: Mapped[str] = mapped_column(String(16))  # applied | refused | planned | failed
    detail: Mapped[str | None] = mapped_column(Text)


class ApiToken(Base):
    """A bearer token stored as its SHA-256 hash; the value itself is shown once at creation.

    A name (the identity provider connection, the audit log's actor) may hold several active tokens
    at once, so a token is rotated without an outage: create the new one, switch the identity
    provider over, revoke the old one by its id.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# -- the admin console (scim_bridge/console) ----------------------------------------------------------


class ConsoleAdmin(Base):
    """An administrator of the console; the password only as an argon2 hash (PHC string)."""

    __tablename__ = "console_admins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    name_lower: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConsoleLoginFailure(Base):
    """A failed sign-in, counted per account and per client address over a short window (rate limit)."""

    __tablename__ = "console_login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    account_lower: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_console_login_failures_account", "account_lower", "at"),
        Index("ix_console_login_failures_address", "address", "at"),
    )


class ConsoleSecret(Base):
    """Secrets the console generates once and every worker shares (the session signing key)."""

    __tablename__ = "console_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReconcileRun(Base):
    """A reconciliation started from the console, run in the background; any worker shows its state."""

    __tablename__ = "console_reconcile_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_by: Mapped[str] = mapped_column(String(64))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=True)
    deactivate_unmanaged: Mapped[bool] = mapped_column(Boolean, default=False)
    targets: Mapped[list] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="running")  # running | done | failed
    done_targets: Mapped[int] = mapped_column(Integer, default=0)
    # Per target, the report as plain data (console/runs.py).
    result: Mapped[list | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)


class TargetSeats(Base):
    """The last licence seat count read from a target (docs/architecture.md, "Licence seats"): what
    ``scim-bridge status`` and the console show, whichever process read it."""

    __tablename__ = "target_seats"

    target: Mapped[str] = mapped_column(String(128), primary_key=True)
    used: Mapped[int | None] = mapped_column(Integer)  # None with total None: the licence is unlimited
    total: Mapped[int | None] = mapped_column(Integer)
    licence: Mapped[str | None] = mapped_column(String(128))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReconcileSchedule(Base):
    """The scheduled reconciliation's durable "last run": one row per schedule, written by the instance
    that claims a period (under an advisory lock on PostgreSQL), so another instance finding it
    recent leaves that period alone (scim_bridge/schedule.py)."""

    __tablename__ = "reconcile_schedule"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_started: Mapped[datetime] = mapped_column(UTCDateTime)
    owner: Mapped[str] = mapped_column(String(128))  # host:pid of the instance that ran it
    # The run's record in console_reconcile_runs, once it has one.
    last_run_id: Mapped[int | None] = mapped_column(Integer)


class ConfigCheck(Base):
    """One run of check-config's checks (scim_bridge/checks.py), from the console or the command line:
    the Configuration page shows the latest (docs/console.md)."""

    __tablename__ = "config_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_by: Mapped[str] = mapped_column(String(128))  # "admin:NAME" or "command line (USER)"
    state: Mapped[str] = mapped_column(String(16), default="running")  # running | done | failed
    # The findings as plain data: level, where, message, target (None: not about one target).
    findings: Mapped[list | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
