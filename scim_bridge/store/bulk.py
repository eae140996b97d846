"""A unit of work for the writes of one bulk request (docs/architecture.md, "Bulk").

The writes are the repository's own (create, replace, patch, delete: the same audit entries, link
reservations and outbox rows as a single request), run inside one transaction per batch of
``batch_size`` writes instead of one transaction each. Each write runs in a savepoint of that
transaction, so one that fails rolls back alone, store unchanged, while the others of the batch
commit; consecutive creates go in together (``create_all``: the repository's ``create_many``, one
savepoint and one multi-row INSERT per table), still each answered on its own. A batch is bounded
so that a large bulk does not hold SQLite's single write lock, or PostgreSQL's row locks, for the
whole request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy.orm import Session

from scim_bridge.errors import ScimError
from scim_bridge.rules.errors import RuleError
from scim_bridge.scim.schemas import ResourceType
from scim_bridge.store.repository import Record, Repository, refusals

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
        try:
            result = write(self._open())
        except ScimError:
            self._count()  # its savepoint rolled back; the batch goes on
            raise
        self._count()
        return result

    def create_all(self, rtype: ResourceType, attributes: Sequence[dict], actor: str, *,
                   stop_after_errors: int | None = None) -> list[Record | ScimError | RuleError]:
        """``Repository.create_many`` within the batches: each create counts as one write, so a batch
        still commits after ``batch_size`` of them. Stops after the ``stop_after_errors``-th refusal."""
        results: list[Record | ScimError | RuleError] = []
        while len(results) < len(attributes):
            chunk = attributes[len(results):len(results) + self._batch_size - self._pending]
            left = None if stop_after_errors is None else stop_after_errors - refusals(results)
            done = self._open().create_many(rtype, chunk, actor, stop_after_errors=left)
            results.extend(done)
            self._count(len(done))
            if len(done) < len(chunk):
                break
        return results

    def _open(self) -> Repository:
        if self._session is None:
            self._session = self._repository.write_session()
            self._session.begin()
            self._store = self._repository.in_transaction(self._session)
        assert self._store is not None
        return self._store

    def _count(self, writes: int = 1) -> None:
        self._pending += writes
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

