"""What an identity provider's changes should amount to on each product, kept by a test from the
changes it makes, and what the fakes actually hold: the reliability tests compare the two."""

from __future__ import annotations

from unittest.mock import ANY

from tests.support.bridge import TOKEN

LICENCE = {"jira": "jira-software-users", "confluence": "confluence-users", "bitbucket": "stash-users"}


def bridge_config(urls: dict[str, str], delivery: dict) -> dict:
    """The bridge's configuration for the three products at ``urls``: users named after their
    address's local part, each product's licence group given to active users, quick HTTP timeouts."""
    return {
        "auth": {"tokens": [{"name": "idp", "value": TOKEN}]},
        "logging": {"level": "ERROR"},
        "rules": {"username": {"regex": "(.*)@.*", "replacement": "$1"}},
        "delivery": delivery,
        "targets": {
            product: {"type": product, "url": url, "username": "admin", "password": "admin",
                      "rules": {"default_groups": [LICENCE[product]]},
                      "http": {"deadline": 0.5, "connect_timeout": 0.5, "read_timeout": 2, "rate": 1000,
                               "burst": 100}}
            for product, url in urls.items()
        },
    }


class NoneOrInactive:
    """Either no account, or an inactive one holding ``groups`` (no licence): what a product that was
    down sees of a user deactivated while the bridge was already trying to create it. An attempt
    delivers the user as read when it started (docs/architecture.md, "At least once"); a change that
    commits while the attempt is still retrying inside the HTTP policy is applied by the next attempt.
    So a product that comes back in that window takes the create, then the deactivation."""

    def __init__(self, display, groups: frozenset):
        self.inactive = (display, False, groups)

    def __eq__(self, other) -> bool:
        return other is None or other == self.inactive

    def __repr__(self) -> str:
        return f"None or {self.inactive!r}"


class Model:
    """What the identity provider's changes should amount to on a target."""

    def __init__(self):
        self.users: dict[str, dict] = {}  # scim id -> {"name", "display", "active", "deleted"}
        self.groups: dict[str, str] = {}  # scim id -> display name
        self.members: dict[str, set[str]] = {}  # group id -> user ids

    def expected(self, product: str, *, reached_early: bool) -> dict[str, tuple | None]:
        """Per username: (display name, active flag, groups), or None for no account at all.

        ``reached_early``: the target took each user while it was new and active. Otherwise it sees
        the final state, and the bridge creates no account for a user already inactive or deleted
        then, except one whose create was in flight when it was deactivated (``NoneOrInactive``).
        """
        out = {}
        for uid, user in self.users.items():
            groups = {self.groups[g] for g, ids in self.members.items() if uid in ids}
            if not reached_early and (user["deleted"] or not user["active"]):
                groups = {g.lower() for g in groups} if product == "confluence" else groups
                display = ANY if user["deleted"] else user["display"]
                out[user["name"]] = NoneOrInactive(display, frozenset(groups))
                continue
            if product == "confluence":
                groups = {g.lower() for g in groups}
            active = user["active"] and not user["deleted"]
            if active:
                groups.add(LICENCE[product])
            # Bitbucket cannot deactivate: removing the licence is how the bridge deprovisions.
            flag = True if product == "bitbucket" else active
            # A deleted account is only deactivated: its profile stays as last delivered, which
            # depends on how the deletion raced the earlier updates.
            display = ANY if user["deleted"] else user["display"]
            out[user["name"]] = (display, flag, frozenset(groups))
        return out


def actual(fake, names) -> dict[str, tuple | None]:
    out = {}
    for name in names:
        account = fake.user(name)
        out[name] = account and (account.display_name, account.active, frozenset(fake.groups_of(name)))
    return out
