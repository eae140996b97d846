"""Concurrent creates written together, one transaction and one synced commit for several requests.

Every commit waits for the disk (SQLite syncs its log, docs/architecture.md decision 6; PostgreSQL
flushes its WAL), and SQLite has one writer at a time: single creates arriving together would each
pay a commit, so the commit, not the work, sets the rate. Here the first request to arrive writes;
those arriving while it writes wait, and the next of them writes all that have gathered by then in
one batch (the statements of ``Repository.create_many``: the same rows, one multi-row INSERT per
table, each create refused or accepted on its own), in one transaction or not at all. No request
waits for a timer: a batch is whatever arrived during the previous commit, so a lone request is
written at once, as before.

A request's answer still comes after its own commit (decision 1). A batch that fails as a whole (the
database unavailable, a bug) is not answered for the others by one error: each request then writes
its create alone, and gets its own answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any

_UNSET = object()


class _Waiting:
    __slots__ = ("key", "item", "result")

    def __init__(self, key: Hashable, item: Any):
        self.key, self.item, self.result = key, item, _UNSET


class GroupCommit:
    """``write_many(key, items)`` writes items of one ``key`` in one transaction and returns, in order,
    each item's result (a value, or the exception refusing that item alone), or raises having written
    none of them; ``write_one(key, item)`` writes one item alone, returning its value or raising.
    Items of different keys are written by different transactions, side by side."""

    def __init__(self, write_many: Callable[[Hashable, Sequence[Any]], list[Any]],
                 write_one: Callable[[Hashable, Any], Any]):
        self._write_many = write_many
        self._write_one = write_one
        self._turn = threading.Condition()
        self._queue: list[_Waiting] = []
        self._writing: set[Hashable] = set()  # keys being written: each kind has its own turn

    def submit(self, key: Hashable, item: Any) -> Any:
        waiting = _Waiting(key, item)
        with self._turn:
            self._queue.append(waiting)
            try:
                while key in self._writing and waiting.result is _UNSET:
                    self._turn.wait()
            except BaseException:
                if waiting in self._queue:  # never written for a request that is gone
                    self._queue.remove(waiting)
                raise
            batch = None
            if waiting.result is _UNSET:
                # This request writes, for itself and those of its kind that gathered meanwhile.
                self._writing.add(key)
                batch = [w for w in self._queue if w.key == key]
                self._queue = [w for w in self._queue if w.key != key]
        if batch is not None:
            self._write(key, batch)
        result = waiting.result
        if result is _ALONE:
            return self._write_one(key, item)
        if isinstance(result, BaseException):
            raise result
        return result

    def _write(self, key: Hashable, batch: list[_Waiting]) -> None:
        """Write while holding the key's turn, so that requests arriving meanwhile gather for the next
        batch. Every request of the batch is answered, whatever happens here."""
        results: list[Any] = [_ALONE] * len(batch)
        try:
            if len(batch) == 1:
                try:
                    results = [self._write_one(key, batch[0].item)]
                except Exception as refused:  # noqa: BLE001 - this request's own answer: raised in its thread
                    results = [refused]
            else:
                written = self._write_many(key, [w.item for w in batch])
                if len(written) == len(batch):
                    results = written
        except Exception:  # noqa: BLE001 - the batch rolled back: each writes alone, for its own answer
            results = [_ALONE] * len(batch)
        finally:
            with self._turn:
                for waiting, result in zip(batch, results, strict=False):
                    waiting.result = result
                self._writing.discard(key)
                self._turn.notify_all()


_ALONE = object()  # written on its own, by its own request (a batch of one, or a batch that failed)
