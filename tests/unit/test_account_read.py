"""A delivery reads a linked account and its groups in one call where the product answers both at once
(Jira's user resource with ``expand=groups``), and in two where it does not."""

from __future__ import annotations

from tests.support.memory_client import MemoryDirectory


class AnswersBoth(MemoryDirectory):
    """A product whose account read carries the account's groups, as Jira's can."""

    def get_user_and_groups(self, username):
        self._enter("get_user_and_groups", username)
        key = username.casefold()
        with self.lock:
            account = self.users.get(key)
            held = sorted(self.groups[g] for g, members in self.members.items() if key in members)
        return (None, None) if account is None else (account, held)


def _reads_of_a_change(bridges, client) -> list[str]:
    bridge = bridges(client, target_rules={"default_groups": ["all-staff"]})
    alice = bridge.create_user("alice", "Alice")
    bridge.settle()
    calls = len(client.calls)
    bridge.change_user(alice, displayName="Alice Smith")
    bridge.settle()
    assert client.users["alice"].display_name == "Alice Smith"
    assert "alice" in client.member_names("all-staff")
    return [name for name, _ in client.calls[calls:] if name in ("get_user", "get_user_and_groups", "user_groups")]


def test_a_linked_accounts_groups_come_with_its_read_where_the_product_answers_both(bridges):
    assert _reads_of_a_change(bridges, AnswersBoth()) == ["get_user_and_groups"]


def test_elsewhere_the_groups_are_read_after_the_account(bridges):
    assert _reads_of_a_change(bridges, MemoryDirectory()) == ["get_user", "user_groups"]
