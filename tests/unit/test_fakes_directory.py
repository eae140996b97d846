"""The fakes' in-memory directory: case-insensitive names, two-way membership index, cached listings."""

from __future__ import annotations

import pytest
import requests

from atlassian_clients.fakes import start_fakes
from atlassian_clients.fakes.directory import Directory, page
from atlassian_clients.fakes.knobs import Knobs, retry_after_value
from atlassian_clients.fakes.text_index import TextIndex


@pytest.fixture
def directory():
    return Directory(lambda account_id, name: f"K{account_id}")


def test_names_are_case_insensitive_and_keep_their_spelling(directory):
    directory.add_user("Alice", "Alice", "a@example.com")

    assert directory.user("ALICE").name == "Alice"
    with pytest.raises(ValueError):
        directory.add_user("alice", "Other", "o@example.com")


def test_rename_moves_memberships_and_keeps_key_and_id(directory):
    account = directory.add_user("bob", "Bob", "b@example.com")
    directory.add_group("team")
    directory.add_member("team", "bob")

    directory.rename_user(account, "robert")

    assert directory.user("bob") is None
    assert directory.user_by_key("K1") is account and account.name == "robert"
    assert [a.name for a in directory.members("team")] == ["robert"]
    assert directory.groups_of("robert") == ["team"]


def test_removing_a_user_or_group_removes_its_memberships_both_ways(directory):
    for name in ("carol", "dave"):
        directory.add_user(name, name, f"{name}@example.com")
    for group in ("g1", "g2"):
        directory.add_group(group)
        directory.add_member(group, "carol")
        directory.add_member(group, "dave")

    directory.remove_user(directory.user("carol"))
    directory.remove_group("g1")

    assert [a.name for a in directory.members("g2")] == ["dave"]
    assert directory.groups_of("dave") == ["g2"]


def test_membership_changes_report_whether_they_changed_anything(directory):
    directory.add_user("erin", "Erin", "e@example.com")
    directory.add_group("team")

    assert directory.add_member("team", "ERIN") is True
    assert directory.add_member("team", "erin") is False
    assert directory.remove_member("team", "erin") is True
    assert directory.remove_member("team", "erin") is False


def test_sorted_listing_is_built_once_until_the_directory_changes(directory):
    for name in ("zed", "amy", "Mia"):
        directory.add_user(name, name, f"{name}@example.com")

    first = directory.users()
    assert [a.name for a in first] == ["amy", "Mia", "zed"]
    assert directory.users() is first

    directory.add_user("bea", "Bea", "b@example.com")
    assert directory.users() is not first
    assert [a.name for a in directory.users()] == ["amy", "bea", "Mia", "zed"]


def test_cursor_walk_skips_deleted_accounts_and_knows_the_end(directory):
    for n in range(6):
        directory.add_user(f"u{n}", "U", "u@example.com")
    directory.remove_user(directory.user("u2"))
    directory.remove_user(directory.user("u5"))

    found, last = directory.users_after_id(0, 3)
    rest, rest_last = directory.users_after_id(found[-1].id, 3)

    assert [a.name for a in found] == ["u0", "u1", "u3"] and last is False
    assert [a.name for a in rest] == ["u4"] and rest_last is True


def test_search_finds_substrings_of_name_display_name_or_email_and_follows_changes(directory):
    alice = directory.add_user("alice", "Alice Liddell", "al@wonder.example")
    directory.add_user("bob", "Bob", "bob@builder.example")

    assert [a.name for a in directory.search("LIDDELL")] == ["alice"]
    assert [a.name for a in directory.search(".example")] == ["alice", "bob"]
    assert directory.search("aliceAlice") == []  # no match across two fields

    directory.update_user(alice, email="alice@elsewhere.example")
    directory.rename_user(alice, "alys")
    assert directory.search("wonder") == []
    assert [a.name for a in directory.search("elsewhere")] == ["alys"]
    assert [a.name for a in directory.search("alice")] == ["alys"]  # the display name still says Alice

    directory.remove_user(directory.user("bob"))
    assert directory.search("builder") == []


def test_search_over_many_blocks_finds_every_match_once():
    index = TextIndex()
    for n in range(5000):
        index.put(n, f"user{n}", "name", f"user{n}@{'even' if n % 2 == 0 else 'odd'}.example")
    index.put(4, "renamed", "name", "x@odd.example")
    index.remove(6)

    evens = index.search("@even.")

    assert len(evens) == 2498 and 4 not in evens and 6 not in evens
    assert index.search("user4999@") == {4999}


def test_page_slices_and_reports_the_end():
    assert page([1, 2, 3], 0, 2) == ([1, 2], False)
    assert page([1, 2, 3], 2, 2) == ([3], True)
    assert page([1, 2, 3], 5, 2) == ([], True)


def test_retry_after_values():
    import datetime as dt

    assert retry_after_value(3) == "3"
    assert retry_after_value(2.0) == "2"
    assert retry_after_value(dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)) == "Wed, 02 Jan 2030 03:04:05 GMT"


def test_failure_rate_must_be_a_probability():
    with pytest.raises(ValueError):
        Knobs().set_failure_rate(1.5)


@pytest.mark.slow
def test_a_hundred_thousand_users_walk_page_by_page_over_http():
    with start_fakes() as fakes:
        for n in range(100_000):
            fakes.bitbucket.directory.add_user(f"user{n:06d}", "User", f"user{n}@example.com")
        seen, start, last = 0, 0, False
        while not last:
            body = requests.get(
                f"{fakes.base_url('bitbucket')}/rest/api/latest/admin/users",
                params={"start": start, "limit": 1000},
                auth=("admin", "admin"),
                timeout=30,
            ).json()
            seen += body["size"]
            last, start = body["isLastPage"], body.get("nextPageStart", start)

    assert seen == 100_001
