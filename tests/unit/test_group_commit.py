"""Creates arriving together are written by one transaction (store/group_commit.py), each answered as
if written alone: its own resource, or its own refusal."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from scim_bridge.errors import Uniqueness
from scim_bridge.scim.schemas import USER
from scim_bridge.store.group_commit import GroupCommit
from scim_bridge.store.models import AuditEntry, User
from scim_bridge.store.repository import Repository


class Writes:
    """The writes a GroupCommit asks for; the first single write blocks until released, so that
    requests can be made to arrive while it is under way."""

    def __init__(self, fail_batch: bool = False):
        self.batches: list[list[str]] = []
        self.alone: list[str] = []
        self.writing = threading.Event()
        self.release = threading.Event()
        self.fail_batch = fail_batch

    def many(self, key, items):
        self.batches.append(list(items))
        if self.fail_batch:
            raise OSError("the database went away")
        return [ValueError(f"{item} refused") if item.startswith("bad") else f"{item} written" for item in items]

    def one(self, key, item):
        self.alone.append(item)
        if len(self.alone) == 1:
            self.writing.set()
            assert self.release.wait(30)
        if item.startswith("bad"):
            raise ValueError(f"{item} refused")
        return f"{item} written"


def _arrive_during_first_write(writes: Writes, later: list[str]) -> dict[str, object]:
    together = GroupCommit(writes.many, writes.one)
    answers: dict[str, object] = {}

    def submit(item):
        try:
            answers[item] = together.submit("users", item)
        except ValueError as refused:
            answers[item] = refused

    with ThreadPoolExecutor(len(later) + 1) as pool:
        pool.submit(submit, "first")
        assert writes.writing.wait(30)
        for item in later:
            pool.submit(submit, item)
        # Each of them is queued before the first write ends (a bounded look, not a timing).
        for _ in range(3000):
            with together._turn:
                if len(together._queue) == len(later):
                    break
            threading.Event().wait(0.01)
        writes.release.set()
    return answers


def test_creates_arriving_during_a_write_are_written_together_by_the_next():
    writes = Writes()
    answers = _arrive_during_first_write(writes, ["a", "b", "bad-c"])
    assert writes.alone == ["first"]  # a lone request is written at once, not held for company
    assert [sorted(batch) for batch in writes.batches] == [["a", "b", "bad-c"]]
    assert {k: str(v) for k, v in answers.items()} == {
        "first": "first written", "a": "a written", "b": "b written", "bad-c": "bad-c refused"}
    assert isinstance(answers["bad-c"], ValueError)  # raised in its own request, not returned


def test_a_batch_that_fails_as_a_whole_is_written_again_one_by_one():
    writes = Writes(fail_batch=True)
    answers = _arrive_during_first_write(writes, ["a", "b"])
    assert [sorted(batch) for batch in writes.batches] == [["a", "b"]]
    assert sorted(writes.alone) == ["a", "b", "first"]  # each then wrote alone, for its own answer
    assert answers == {"first": "first written", "a": "a written", "b": "b written"}


def test_creates_of_another_kind_are_not_held_behind_a_write():
    """Groups (or another token's creates) are written side by side with a batch of users."""
    writes = Writes()
    together = GroupCommit(writes.many, writes.one)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(together.submit, "users", "first")
        assert writes.writing.wait(30)  # the users' write is under way, and stays so ...
        assert together.submit("groups", "team") == "team written"  # ... while the group is written
        writes.release.set()
        assert first.result(30) == "first written"


def _user(name: str) -> dict:
    return {"userName": name, "emails": [{"value": f"{name}@example.com", "primary": True}], "active": True}


def test_concurrent_creates_each_get_their_own_answer_and_rows(engine):
    """Forty creates on 8 threads, among them five pairs of one name: every create is answered as if
    alone (a resource, or 409 naming the holder) and the store holds exactly what was answered."""
    repo = Repository(engine)
    names = [f"user{k}" for k in range(30)] + [f"twin{k % 5}" for k in range(10)]

    def create(name):
        try:
            return repo.create(USER, _user(name), "idp")
        except Uniqueness as refused:
            return refused

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(create, names))
    made = {answer.id: name for name, answer in zip(names, answers, strict=True) if not isinstance(answer, Exception)}
    refused = [(name, answer) for name, answer in zip(names, answers, strict=True) if isinstance(answer, Exception)]
    assert sorted(made.values()) == sorted([f"user{k}" for k in range(30)] + [f"twin{k}" for k in range(5)])
    assert sorted(name for name, _ in refused) == [f"twin{k}" for k in range(5)]
    for name, error in refused:
        holder = next(i for i, n in made.items() if n == name)
        assert error.status == 409 and holder in error.detail
    with engine.connect() as conn:
        assert dict(conn.execute(sa.select(User.id, User.user_name)).all()) == made
        audited = conn.execute(sa.select(AuditEntry.resource_id).where(AuditEntry.action == "create")).scalars()
        assert sorted(audited) == sorted(made)


def test_creates_gathered_behind_a_held_write_lock_are_one_batch_each_answered(engine, tmp_path):
    """SQLite: another process holds the database's write lock, so the first create waits at BEGIN;
    three more arrive meanwhile and are written together by the next commit, one of them a name the
    batch itself takes first (409 naming that new user), the others created with their own rows."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the write lock held from outside is SQLite's")
    repo = Repository(engine)
    repo.create(USER, _user("warm"), "idp")  # the schema and connection set up
    outside = sqlite3.connect(engine.url.database, isolation_level=None)
    outside.execute("BEGIN IMMEDIATE")
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(repo.create, USER, _user("first"), "idp")
        for _ in range(3000):  # the first create is the one writing (waiting for the lock)
            with repo._together._turn:
                if repo._together._writing:
                    break
            threading.Event().wait(0.01)
        later = [pool.submit(_answer, repo, name) for name in ("ann", "bob", "ann")]
        for _ in range(3000):
            with repo._together._turn:
                gathered = len(repo._together._queue)
            if gathered == 3:
                break
            threading.Event().wait(0.01)
        outside.execute("ROLLBACK")
        assert gathered == 3  # waiting for the next commit, together
        answers = [future.result(30) for future in later]
        assert first.result(30).id
    outside.close()
    ann, bob, again = answers
    assert (ann.attributes["userName"], bob.attributes["userName"]) == ("ann", "bob")
    assert isinstance(again, Uniqueness) and again.status == 409 and ann.id in again.detail
    with engine.connect() as conn:
        names = dict(conn.execute(sa.select(User.user_name, User.id)).all())
    assert names == {"warm": names["warm"], "first": first.result().id, "ann": ann.id, "bob": bob.id}


def _answer(repo: Repository, name: str):
    try:
        return repo.create(USER, _user(name), "idp")
    except Uniqueness as refused:
        return refused
