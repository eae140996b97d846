"""A never-linked user's account is created without reading it first (sync/create_first.py): one call
where a read and a create were two, and an account the create meets is judged as a read would have
judged it. With the in-memory client passed in (``tests/support/memory_client.py``), whose create
answers "taken" with the existing account as the products' clients do (``Creation.created`` False)."""

from __future__ import annotations

import pytest

from scim_bridge.sync.create_first import AT_LEAST, WINDOW, CreateFirst
from scim_bridge.sync.executor import Settle
from scim_bridge.sync.outbox import Claim
from tests.support.memory_client import MemoryDirectory


def _calls(client: MemoryDirectory, name: str) -> list[str]:
    return [method for method, args in client.calls if args[:1] == (name,)]


def _warmed(bridge):
    """The target has seen enough new users to create unread (until then it reads first)."""
    for k in range(AT_LEAST):
        bridge.create_user(f"earlier{k}")
        bridge.settle()
    assert _calls(bridge.client, "earlier0")[0] == "get_user"  # read first before that
    return bridge


def test_a_new_user_is_created_with_one_call_and_linked_with_the_account_made(bridges):
    bridge = _warmed(bridges())
    user = bridge.create_user("alice", "Alice Smith")
    bridge.settle()
    assert _calls(bridge.client, "alice") == ["create_user"]  # no get_user before it
    link = bridge.link("User", user)
    assert (link.status, link.remote_name) == ("ok", "alice")
    assert link.applied["key"] == bridge.client.users["alice"].key
    assert [(e.action, e.outcome) for e in bridge.audit() if e.resource_id == user] == [("create_user", "applied")]


def test_an_account_the_create_meets_is_linked_and_brought_in_line_as_a_read_would(bridges):
    client = MemoryDirectory()
    client.seed_user("alice", "Alice (old)", "old@example.com")
    bridge = _warmed(bridges(client))
    user = bridge.create_user("alice", "Alice Smith")
    bridge.settle()
    # The create was refused as taken; the account it met was planned with, not read again.
    assert _calls(client, "alice") == ["create_user", "user_groups", "update_user"]
    assert [name for name in client.users if name.startswith("alice")] == ["alice"]
    assert client.users["alice"].display_name == "Alice Smith"
    link = bridge.link("User", user)
    assert link.status == "ok"
    assert link.applied["key"] == client.users["alice"].key == "JIRAUSER10100"  # the seeded account
    audit = [(e.action, e.outcome) for e in bridge.audit() if e.resource_id == user]
    assert audit == [("link_user", "applied"), ("update_user", "applied")]  # no create, no failure


def test_an_account_the_create_meets_is_left_alone_where_the_rules_say_so(bridges):
    client = MemoryDirectory()
    client.seed_user("alice", "Alice (old)", "old@example.com")
    bridge = _warmed(bridges(client, target_rules={"users": {"match_existing": "none"}}))
    user = bridge.create_user("alice", "Alice Smith")
    bridge.settle()
    assert client.users["alice"].display_name == "Alice (old)"
    assert [m for m, args in client.mutations() if args[0] == "alice"] == ["create_user"]  # refused: no change
    link = bridge.link("User", user)
    assert (link.status, link.reason) == (
        "skipped", "an account alice already exists and users.match_existing is none: not linked")


def test_an_account_another_user_is_linked_to_is_not_linked_twice(bridges):
    bridge = _warmed(bridges())
    first = bridge.create_user("alice", "Alice Smith")
    bridge.settle()
    # The product renames nothing, but the account of the first user now answers to the second
    # user's name (an administrator renamed it by hand): the create meets an account linked elsewhere.
    client = bridge.client
    client.users["alice2"] = client.users["alice"]
    second = bridge.create_user("alice2", "Alice Two")
    bridge.settle()
    assert bridge.link("User", first).status == "ok"
    link = bridge.link("User", second)
    assert (link.status, link.reason) == (
        "skipped", "the account alice is already linked to another identity provider user")


@pytest.mark.parametrize(("attempts", "taken_over"), [(1, False), (0, True)], ids=["retried", "taken-over"])
def test_a_row_attempted_before_reads_first_so_that_no_create_is_sent_twice(bridges, attempts, taken_over):
    """A failed attempt's create, or one made by a worker that died before recording it, may have
    landed: the next attempt reads, finds the account, and links it without a second create."""
    bridge = _warmed(bridges())
    alice = bridge.create_user("alice", "Alice Smith")
    bridge.client.seed_user("alice", "Alice Smith", "alice@example.com")  # the earlier attempt's create
    outcome = bridge.sync.delivery.deliver(Claim(0, "User", alice, "jira", 1, attempts, taken_over=taken_over))
    assert outcome.kind is Settle.DONE
    assert _calls(bridge.client, "alice") == ["get_user", "user_groups"]
    assert bridge.link("User", alice).applied["key"] == bridge.client.users["alice"].key


def test_searching_by_email_reads_first(bridges):
    bridge = _warmed(bridges(target_rules={"users": {"match_existing": "email"}}))
    bridge.create_user("alice", "Alice Smith")
    bridge.settle()
    assert _calls(bridge.client, "alice") == ["get_user", "create_user"]
    assert bridge.client.count("find_users_by_email", "alice@example.com") == 1


def test_a_dry_run_reads_first_and_creates_nothing_however_many_new_users_it_has_seen(bridges):
    client = MemoryDirectory()
    client.forbid_mutations = True  # a mutating call fails the test (memory_client.py)
    bridge = bridges(client, target_rules={"dry_run": True})
    names = [f"new{k}" for k in range(AT_LEAST + 2)]
    for name in names:
        bridge.create_user(name)
        bridge.settle()
    assert client.forbidden == []
    assert all(_calls(client, name)[0] == "get_user" for name in names)


def test_a_plan_that_would_not_create_reads_first(bridges):
    """users.create off: an account a read finds is still linked, so the read is made."""
    client = MemoryDirectory()
    client.seed_user("bob", "Bob", "bob@example.com")
    bridge = _warmed(bridges(client, target_rules={"users": {"create": False}}))
    bob = bridge.create_user("bob", "Bob Jones")
    bridge.settle()
    assert _calls(client, "bob")[0] == "get_user"
    assert "create_user" not in _calls(client, "bob")
    assert bridge.link("User", bob).status == "ok"


def test_a_target_whose_accounts_mostly_exist_reads_first_and_goes_back_when_users_are_new(bridges):
    client = MemoryDirectory()
    existing = [f"old{k:02d}" for k in range(WINDOW)]
    for name in existing:
        client.seed_user(name)
    bridge = _warmed(bridges(client))  # AT_LEAST new users seen
    for name in existing:
        bridge.create_user(name)
        bridge.settle()  # one at a time: each delivery sees what the ones before found
    # Created unread while fewer than half of those seen had accounts (4 new, then 1, 2, 3 of 4
    # existing); from then on read first.
    refused = [name for name in existing if "create_user" in _calls(client, name)]
    assert refused == existing[:AT_LEAST]
    assert all(_calls(client, name)[0] == "get_user" for name in existing[AT_LEAST:])
    assert len(client.users) == AT_LEAST + WINDOW  # none created twice
    new = [f"new{k:02d}" for k in range(WINDOW)]
    for name in new:
        bridge.create_user(name)
        bridge.settle()
    # Read first while at least half of the last WINDOW found an account (each read of a new user
    # counts too); created unread from the one after which fewer than half had.
    read_first = [name for name in new if _calls(client, name)[0] == "get_user"]
    assert read_first == new[:WINDOW // 2 + 1]
    assert all(_calls(client, name) == ["create_user"] for name in new[WINDOW // 2 + 1:])


def test_a_target_reads_first_until_it_has_seen_enough_new_users():
    odds = CreateFirst()
    for _ in range(AT_LEAST - 1):
        assert not odds.likely_new()
        odds.saw(existing=False)
    assert not odds.likely_new()
    odds.saw(existing=False)
    assert odds.likely_new()


def test_the_odds_are_those_of_the_last_window_of_users():
    odds = CreateFirst(window=4, at_least=1)
    assert not odds.likely_new()  # nothing seen yet
    odds.saw(existing=True)
    assert not odds.likely_new()  # 1 of 1
    odds.saw(existing=False)
    assert not odds.likely_new()  # 1 of 2: not fewer than half
    odds.saw(existing=False)
    assert odds.likely_new()  # 1 of 3
    for _ in range(4):
        odds.saw(existing=True)
    assert not odds.likely_new()  # 4 of the last 4; the older ones are forgotten
    for _ in range(3):
        odds.saw(existing=False)
    assert odds.likely_new()  # 1 of the last 4
