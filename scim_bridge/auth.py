"""Bearer tokens, known to the bridge only as SHA-256 hashes.

Tokens come from the configuration (a value from the environment, or its hash) and from the store
(``scim-bridge token create``). A presented token is hashed and compared with every known hash in
constant time, so neither the comparison nor the loop leaks which token or how much of it matched.

A token's name is the identity provider connection; it is what the audit log records as the actor.
A name may hold several stored tokens at once, each with an optional expiry, so a token is rotated
without an outage: create a second one, switch the identity provider over, revoke the first by its
id (docs/architecture.md, "Bearer tokens").
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from scim_bridge.config import TOKEN_NAME_PATTERN, MetricsSettings, TokenSettings
from scim_bridge.errors import Unauthorized
from scim_bridge.store.models import ApiToken, utcnow

_TOKEN_NAME = re.compile(TOKEN_NAME_PATTERN)


class InvalidTokenName(ValueError):
    pass


def check_token_name(name: str) -> str:
    """The names the configuration accepts for auth.tokens, and no other: they end up in the audit log."""
    if not _TOKEN_NAME.fullmatch(name):
        raise InvalidTokenName(
            f"token name {name!r} is not valid: use 1 to 64 letters, digits, '.', '_' or '-' "
            "(the identity provider connection, e.g. onelogin)")
    return name


def token_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_token_value() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class KnownToken:
    name: str
    sha256: str
    expires_at: datetime | None = None


class TokenVerifier:
    """Answers "which connection sent this request?" or raises Unauthorized."""

    # Stored tokens are re-read at most this often: a revocation takes effect within seconds without
    # a database query on every SCIM request.
    STORED_TTL_SECONDS = 5.0

    def __init__(self, configured: Iterable[KnownToken], stored: Callable[[], list[KnownToken]],
                 clock=time.monotonic, now: Callable[[], datetime] = utcnow):
        self._configured = tuple(configured)
        self._stored = stored
        self._clock = clock
        self._now = now
        self._cache: tuple[float, list[KnownToken]] | None = None

    def _stored_tokens(self) -> list[KnownToken]:
        now = self._clock()
        if self._cache is None or now - self._cache[0] > self.STORED_TTL_SECONDS:
            self._cache = (now, self._stored())
        return self._cache[1]

    @classmethod
    def from_config(cls, tokens: Iterable[TokenSettings], engine: sa.Engine | None) -> TokenVerifier:
        """``auth.tokens`` of the configuration, and the tokens stored in the database when ``engine``
        is given."""
        configured = [KnownToken(t.name, t.sha256 or token_hash(t.value or "")) for t in tokens]
        return cls(configured, (lambda: stored_tokens(engine)) if engine is not None else list)

    def verify(self, authorization: str | None) -> str:
        if not authorization:
            raise Unauthorized("Authentication is required: send 'Authorization: Bearer <token>'.")
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("Use the Bearer scheme: 'Authorization: Bearer <token>'.")
        presented = token_hash(value.strip()).encode()
        now = self._now()
        found = None
        for token in (*self._configured, *self._stored_tokens()):
            # An expiry is checked on every request, not only when the stored tokens are re-read.
            if hmac.compare_digest(presented, token.sha256.encode()) and (
                    token.expires_at is None or token.expires_at > now):
                found = found or token.name
        if found is None:
            raise Unauthorized("The bearer token is not valid: check the token configured in the identity provider.")
        return found


def stored_tokens(engine: sa.Engine) -> list[KnownToken]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(ApiToken.name, ApiToken.sha256, ApiToken.expires_at).where(
            ApiToken.revoked_at.is_(None), sa.or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > utcnow())))
        return [KnownToken(name, digest, expires) for name, digest, expires in rows]


@dataclass(frozen=True)
class IssuedToken:
    id: int
    name: str
    value: str  # shown once, never stored
    expires_at: datetime | None


def create_token(engine: sa.Engine, name: str, expires_in: timedelta | None = None) -> IssuedToken:
    """Store a new token for ``name`` (which may hold others) and return it with its value: the only
    time the value is ever shown."""
    check_token_name(name)
    value = new_token_value()
    created = utcnow()
    expires = created + expires_in if expires_in is not None else None
    with engine.begin() as conn:
        token_id = conn.execute(sa.insert(ApiToken).values(
            name=name, sha256=token_hash(value), created=created, expires_at=expires,
        ).returning(ApiToken.id)).scalar_one()
    return IssuedToken(token_id, name, value, expires)


def revoke_token(engine: sa.Engine, name: str) -> int:
    """Revoke every active stored token of ``name``; how many were revoked."""
    check_token_name(name)
    with engine.begin() as conn:
        return conn.execute(
            sa.update(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
        ).rowcount


def revoke_token_id(engine: sa.Engine, token_id: int) -> str | None:
    """Revoke one stored token; the name it belonged to, or None when no active token has that id."""
    with engine.begin() as conn:
        return conn.execute(
            sa.update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow()).returning(ApiToken.name)
        ).scalar()


@dataclass(frozen=True)
class TokenEntry:
    """One line of ``token list``: a stored token, or one from the configuration file (no id, no dates)."""

    name: str
    source: str  # "database" or "config"
    state: str  # "active", "expired" or "revoked"
    id: int | None = None
    created: datetime | None = None
    expires_at: datetime | None = None


def list_tokens(engine: sa.Engine, configured: Iterable[TokenSettings]) -> list[TokenEntry]:
    entries = [TokenEntry(t.name, "config", "active") for t in configured]
    now = utcnow()
    with engine.connect() as conn:
        for row in conn.execute(sa.select(ApiToken).order_by(ApiToken.name, ApiToken.id)):
            state = ("revoked" if row.revoked_at is not None
                     else "expired" if row.expires_at is not None and row.expires_at <= now else "active")
            entries.append(TokenEntry(row.name, "database", state, row.id, row.created, row.expires_at))
    return sorted(entries, key=lambda e: (e.name, e.source != "config", e.id or 0))


def metrics_verifier(settings: MetricsSettings, scim_verifier: TokenVerifier) -> TokenVerifier | None:
    """Who may read /metrics under the ``metrics:`` settings; None lets anyone."""
    if settings.access == "scim":
        return scim_verifier
    if settings.access == "token":
        digest = settings.token_sha256 or token_hash(settings.token or "")
        return TokenVerifier([KnownToken("metrics", digest)], list)
    return None
