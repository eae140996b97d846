"""A unit of work for the writes of one bulk request (docs/architecture.md, "Bulk").

The writes are the repository's own (create, replace, patch, delete: the same audit entries, link
reservations and outbox rows as a single request), run inside one transaction per batch of
``batch_size`` writes instead of one transaction each. Each write runs in a savepoint of that
transaction, so one that fails rolls back alone, store unchanged, while the others of the batch
commit. A batch is bounded so that a large bulk does not hold SQLite's single write lock, or
PostgreSQL's row locks, for the whole request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

from scim_bridge.errors import ScimError
from scim_bridge.store.repository import Repository

BATCH_SIZE = 100

T = TypeVar("T")


class UnitOfWork:
    """``with UnitOfWork(repository) as work: work.run(lambda store: store.create(...))``.

    Leaving the ``with`` block commits the last batch; an exception other than a refused write (a
    ``ScimError``, which ``run`` passes on after its savepoint rolled back) rolls the open batch back.
    Batches committed before stay committed.
    """

    def __init__(self, repository: Repository, batch_size: int = BATCH_SIZE):
        self._repository = repository
        self._batch_size = batch_size
        self._session: Session | None = None
        self._store: Repository | None = None
        self._pending = 0

    def run(self, write: Callable[[Repository], T]) -> T:
        """``write(store)`` in a savepoint of the current batch; the batch commits once full."""
        if self._session is None:
            self._session = self._repository.write_session()
            self._session.begin()
            self._store = self._repository.in_transaction(self._session)
        assert self._store is not None
        try:
            result = write(self._store)
        except ScimError:
            self._count()  # its savepoint rolled back; the batch goes on
            raise
        self._count()
        return result

    def _count(self) -> None:
        self._pending += 1
        if self._pending >= self._batch_size:
            self.commit()

    def commit(self) -> None:
        if self._session is None:
            return
        try:
            self._session.commit()
        finally:
            self._close()

    def _close(self) -> None:
        if self._session is not None:
            self._session.close()  # rolls back what was not committed
        self._session, self._store, self._pending = None, None, 0

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.commit()
        else:
            self._close()
