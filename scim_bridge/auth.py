"""Bearer tokens: one per identity provider connection, known to the bridge only as SHA-256 hashes.

Tokens come from the configuration (a value from the environment, or its hash) and from the store
(``scim-bridge token create``). A presented token is hashed and compared with every known hash in
constant time, so neither the comparison nor the loop leaks which token or how much of it matched.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from scim_bridge.errors import Unauthorized
from scim_bridge.store.models import ApiToken, utcnow

if TYPE_CHECKING:
    from scim_bridge.config import TokenSettings


def token_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_token_value() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class KnownToken:
    name: str
    sha256: str


class TokenVerifier:
    """Answers "which connection sent this request?" or raises Unauthorized."""

    # Stored tokens are re-read at most this often: a revocation takes effect within seconds without
    # a database query on every SCIM request.
    STORED_TTL_SECONDS = 5.0

    def __init__(self, configured: Iterable[KnownToken], stored: Callable[[], list[KnownToken]], clock=time.monotonic):
        self._configured = tuple(configured)
        self._stored = stored
        self._clock = clock
        self._cache: tuple[float, list[KnownToken]] | None = None

    def _stored_tokens(self) -> list[KnownToken]:
        now = self._clock()
        if self._cache is None or now - self._cache[0] > self.STORED_TTL_SECONDS:
            self._cache = (now, self._stored())
        return self._cache[1]

    @classmethod
    def from_config(cls, tokens: Iterable[TokenSettings], engine: sa.Engine) -> TokenVerifier:
        """``auth.tokens`` of the configuration, and the tokens stored in the database."""
        configured = [KnownToken(t.name, t.sha256 or token_hash(t.value or "")) for t in tokens]
        return cls(configured, lambda: stored_tokens(engine))

    def verify(self, authorization: str | None) -> str:
        if not authorization:
            raise Unauthorized("Authentication is required: send 'Authorization: Bearer <token>'.")
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("Use the Bearer scheme: 'Authorization: Bearer <token>'.")
        presented = token_hash(value.strip()).encode()
        found = None
        for token in (*self._configured, *self._stored_tokens()):
            if hmac.compare_digest(presented, token.sha256.encode()):
                found = found or token.name
        if found is None:
            raise Unauthorized("The bearer token is not valid: check the token configured in the identity provider.")
        return found


def stored_tokens(engine: sa.Engine) -> list[KnownToken]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(ApiToken.name, ApiToken.sha256).where(ApiToken.revoked_at.is_(None)))
        return [KnownToken(name, digest) for name, digest in rows]


def create_token(engine: sa.Engine, name: str) -> str:
    """Store a new named token and return its value: the only time it is ever shown."""
    value = new_token_value()
    with engine.begin() as conn:
        conn.execute(sa.insert(ApiToken).values(name=name, sha256=token_hash(value), created=utcnow()))
    return value


def revoke_token(engine: sa.Engine, name: str) -> bool:
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
        )
        return result.rowcount > 0
