"""Administrator accounts of the console, and the limit on failed sign-ins.

Passwords are kept only as argon2id hashes (argon2-cffi's ``PasswordHasher``, which salts, encodes
its parameters in the hash and says when a hash needs redoing with newer ones). Failed sign-ins are
rows in the database, counted per account and per client address over a window, so the limit holds
across gunicorn workers and instances (docs/console.md).
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from scim_bridge.store.database import make_session_factory
from scim_bridge.store.models import ConsoleAdmin, ConsoleLoginFailure, utcnow

NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD_LENGTH = 12

_hasher = PasswordHasher()


_dummy: list[str] = []
_dummy_lock = threading.Lock()


def _dummy_hash() -> str:
    """Verified when the name is unknown, so a sign-in takes as long whether or not the account exists.
    Made once, on first need, not at import: a hash takes a quarter of a second by design, which every
    command of the CLI and every worker start would otherwise pay. A sign-in arriving while it is
    being made waits for that one."""
    with _dummy_lock:
        if not _dummy:
            _dummy.append(_hasher.hash("no account has this password"))
        return _dummy[0]


class AccountError(ValueError):
    """A name or password that cannot be used; the message says why."""


@dataclass(frozen=True)
class Admin:
    id: int
    name: str
    created: datetime
    last_login: datetime | None
    # Changes with every new password (the hash is salted): a session holds it, so a password change or
    # a deleted account (whose id a new one may reuse) ends the sessions signed in before.
    fingerprint: str = field(default="", repr=False)


def check_name(name: str) -> None:
    if not NAME.match(name):
        raise AccountError("an administrator name is 1 to 64 letters, digits and . _ @ -")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")


class Accounts:
    def __init__(self, engine: sa.Engine, clock=utcnow):
        self.engine = engine
        self.clock = clock
        self._read = make_session_factory(engine)
        self._write = make_session_factory(engine, write=True)

    def ready_for_sign_ins(self) -> None:
        """Make the unknown-name hash now, in the background, so that the first sign-in with an
        unknown name takes no longer than one with a known name."""
        threading.Thread(target=_dummy_hash, name="console-hash", daemon=True).start()

    def create(self, name: str, password: str) -> Admin:
        check_name(name)
        check_password(password)
        row = ConsoleAdmin(name=name, name_lower=name.lower(), password_hash=_hasher.hash(password),
                           created=self.clock())
        try:
            with self._write() as session, session.begin():
                session.add(row)
        except sa.exc.IntegrityError:
            raise AccountError(f"an administrator named {name!r} exists already") from None
        return _admin(row)

    def set_password(self, name: str, password: str) -> bool:
        check_password(password)
        with self._write() as session, session.begin():
            return session.execute(sa.update(ConsoleAdmin).where(ConsoleAdmin.name_lower == name.lower())
                                   .values(password_hash=_hasher.hash(password))).rowcount > 0

    def delete(self, name: str) -> bool:
        with self._write() as session, session.begin():
            return session.execute(sa.delete(ConsoleAdmin).where(ConsoleAdmin.name_lower == name.lower())).rowcount > 0

    def list(self) -> list[Admin]:
        with self._read() as session:
            return [_admin(row) for row in session.scalars(sa.select(ConsoleAdmin).order_by(ConsoleAdmin.name_lower))]

    def exists_any(self) -> bool:
        with self._read() as session:
            return session.scalar(sa.select(ConsoleAdmin.id).limit(1)) is not None

    def get(self, admin_id: int) -> Admin | None:
        with self._read() as session:
            row = session.get(ConsoleAdmin, admin_id)
            return _admin(row) if row is not None else None

    def authenticate(self, name: str, password: str) -> Admin | None:
        """The account if the password is its own, else None (the same time either way)."""
        with self._write() as session, session.begin():
            row = session.scalar(sa.select(ConsoleAdmin).where(ConsoleAdmin.name_lower == name.lower()))
            try:
                _hasher.verify(row.password_hash if row is not None else _dummy_hash(), password)
            except (VerificationError, InvalidHashError):
                return None
            if row is None:
                return None
            if _hasher.check_needs_rehash(row.password_hash):
                row.password_hash = _hasher.hash(password)
            row.last_login = self.clock()
            return _admin(row)


def _admin(row: ConsoleAdmin) -> Admin:
    return Admin(row.id, row.name, row.created, row.last_login,
                 hashlib.sha256(row.password_hash.encode()).hexdigest()[:32])


class LoginThrottle:
    """At most ``attempts`` failed sign-ins per account and per address within ``window`` seconds."""

    def __init__(self, engine: sa.Engine, *, attempts: int, window: float, clock=utcnow):
        self.attempts = attempts
        self.window = timedelta(seconds=window)
        self.clock = clock
        self._read = make_session_factory(engine)
        self._write = make_session_factory(engine, write=True)

    def blocked(self, name: str, address: str) -> bool:
        since = self.clock() - self.window
        with self._read() as session:
            for column, value in ((ConsoleLoginFailure.account_lower, name.lower()[:64]),
                                  (ConsoleLoginFailure.address, address[:64])):
                count = session.scalar(sa.select(sa.func.count()).select_from(ConsoleLoginFailure)
                                       .where(column == value, ConsoleLoginFailure.at > since))
                if count >= self.attempts:
                    return True
        return False

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        with self._write() as session, session.begin():
            # Rows older than the window count for nothing: the table stays as small as the attacks.
            session.execute(sa.delete(ConsoleLoginFailure).where(ConsoleLoginFailure.at <= now - self.window))
            session.add(ConsoleLoginFailure(at=now, account_lower=name.lower()[:64], address=address[:64]))
