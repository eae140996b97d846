"""Confluence Data Center (8.2 to 10) user directory over ``/rest/api`` (docs/products.md §3).

Confluence quirks handled here:

* user and group names must be lower case (create refuses upper case, docs/products.md §3.2): every name
  is lower-cased before it is sent, which also matches how Confluence compares names;
* delete user answers 202 with a long task (docs/products.md §3.7): the account disappears asynchronously;
* membership calls are idempotent (204 either way, docs/products.md §3.9), create answers 409 when the name is taken;
* no rename, and no e-mail lookup: the user objects carry no e-mail address (docs/products.md §3.3);
* disable/enable and delete exist from 8.2, create from 8.4 (CONFSERVER-54928, -87292);
* space permissions can be read from 9.1, users in them named by key only (docs/products.md §3.14).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from atlassian_clients.base import (
    Capabilities,
    Creation,
    NotFound,
    ProductInfo,
    RemoteGroup,
    RemoteUser,
)
from atlassian_clients.http import ProductProfile, Transport, segment
from atlassian_clients.options import ClientOptions, option
from atlassian_clients.paging import confluence_page
from atlassian_clients.product import ProductClient, throwaway_password

API = "/rest/api"
ACTIVE_STATUSES = {"current", "active", "enabled", "unlicensed"}
INACTIVE_STATUSES = {"deactivated", "disabled", "inactive"}


def _active(person: dict[str, Any]) -> bool | None:
    """The account's state from ``expand=status``; ``None`` when the answer does not carry it."""
    status = person.get("status")
    if isinstance(status, dict):
        status = status.get("value") or status.get("name")
    if not isinstance(status, str):
        return None
    if status.lower() in ACTIVE_STATUSES:
        return True
    return False if status.lower() in INACTIVE_STATUSES else None


def _user(person: dict[str, Any]) -> RemoteUser:
    return RemoteUser(
        name=person["username"],
        key=person.get("userKey"),
        display_name=person.get("displayName"),
        email=person.get("email"),
        active=_active(person),
    )


@dataclass(frozen=True)
class ConfluenceOptions(ClientOptions):
    licence_group: str = option("confluence-users", "the group whose 'can use' permission licenses an account")
    notify_new_users: bool = option(False, "Confluence e-mails a new account a link to choose a password "
                                           "(needs its mail server); otherwise a random password is set")


class ConfluenceClient(ProductClient):
    """Confluence's users and groups. See :class:`atlassian_clients.base.DirectoryClient`.

    ``licence_group`` is the group whose "can use" permission licenses an account (docs/products.md §3.10).
    ``notify_new_users`` lets Confluence e-mail a new account a link to choose a password when the
    caller gives none (needs a mail server); otherwise a random password is set.
    """

    product = "confluence"
    page_rule = staticmethod(confluence_page)
    PROFILE = ProductProfile(
        label="Confluence",
        permission_hint="the account needs the Confluence Administrator or System Administrator global "
        "permission; a personal access token acts with its owner's permissions",
    )

    Options = ConfluenceOptions
    options: ConfluenceOptions

    def __init__(self, transport: Transport, **options: Any) -> None:
        super().__init__(transport, **options)
        self.licence_group = self.options.licence_group.lower()
        self.notify_new_users = self.options.notify_new_users

    def _read_product_info(self) -> ProductInfo:
        return self._product_info(self._get(f"{API}/server-information"), self._capabilities)

    def _capabilities(self, version: tuple[int, ...]) -> Capabilities:
        return Capabilities(
            can_create_user=version >= (8, 4),
            can_deactivate=version >= (8, 2),
            can_rename_user=False,
            can_find_by_email=False,
            can_report_sole_admins=version >= (9, 1),
            licence=f"membership of {self.licence_group}",
        )

    # ----------------------------------------------------------------------------------------------
    # users

    def get_user(self, username: str) -> RemoteUser | None:
        person = self._get_or_none(f"{API}/user", {"username": username.lower(), "expand": "status"})
        return None if person is None else _user(person)

    def find_users_by_email(self, email: str) -> list[RemoteUser]:
        raise self._unsupported("find users by e-mail address (its user objects carry none)")

    def create_user(
        self,
        username: str,
        display_name: str,
        email: str,
        *,
        password: str | None = None,
        application_keys: tuple[str, ...] | None = None,
    ) -> Creation[RemoteUser]:
        if not self.capabilities().can_create_user:
            raise self._unsupported(f"create users before 8.4 (this is {self.product_info().version})")
        name = username.lower()
        body: dict[str, Any] = {"userName": name, "fullName": display_name, "email": email}
        # Either a password, or notifyViaEmail without one (spec createUser).
        if password is None and self.notify_new_users:
            body["notifyViaEmail"] = True
        else:
            body["password"] = throwaway_password() if password is None else password
            body["notifyViaEmail"] = False
        return self._create_checked(lambda: self._lookup_user(name), lambda answer: self._made_user(name, body, answer),
                                    f"{API}/admin/user", json=body)

    def _made_user(self, name: str, body: dict[str, Any], answer) -> RemoteUser:
        # The 201 carries only the new account's key (spec createUser, docs/products.md §3.4); the rest
        # is what was sent, so no read-back call. Confluence reports no e-mail address (§3.3).
        try:
            key = answer.json().get("userKey") if answer is not None and answer.content else None
        except (ValueError, AttributeError):
            key = None
        if not isinstance(key, str) or not key:
            return self._read_back_user(name)
        return RemoteUser(name=name, key=key, display_name=body["fullName"], email=None, active=True)

    def update_user(self, username: str, *, display_name: str | None = None, email: str | None = None) -> None:
        changes = {k: v for k, v in (("fullName", display_name), ("email", email)) if v is not None}
        if changes:
            self.http.request("PUT", self._admin_user(username), json=changes)

    def set_active(self, username: str, active: bool) -> None:
        if not self.capabilities().can_deactivate:
            raise self._unsupported(f"disable users before 8.2 (this is {self.product_info().version})")
        # Both calls are idempotent (204 when already in that state).
        self.http.request("PUT", self._admin_user(username) + ("/enable" if active else "/disable"))

    def rename_user(self, old: str, new: str) -> None:
        raise self._unsupported("rename a user")

    def delete_user(self, username: str) -> None:
        """Submit the deletion: Confluence answers 202 and removes the account in a long task."""
        with contextlib.suppress(NotFound):
            self.http.request("DELETE", self._admin_user(username))

    def iter_users(self) -> Iterator[RemoteUser]:
        return map(_user, self._paged(f"{API}/user/list", {"expand": "status"}))

    def _admin_user(self, username: str) -> str:
        return f"{API}/admin/user/{segment(username.lower())}"

    # ----------------------------------------------------------------------------------------------
    # groups

    def get_group(self, name: str) -> RemoteGroup | None:
        group = self._get_or_none(f"{API}/group/{segment(name.lower())}")
        return None if group is None else RemoteGroup(group.get("name", name.lower()))

    def create_group(self, name: str) -> Creation[RemoteGroup]:
        name = name.lower()
        return self._create_group_checked(name, f"{API}/admin/group", json={"name": name})

    def delete_group(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.http.request("DELETE", f"{API}/admin/group/{segment(name.lower())}")

    def iter_groups(self) -> Iterator[RemoteGroup]:
        return (RemoteGroup(group["name"]) for group in self._paged(f"{API}/group", {}))

    def iter_group_members(self, group: str) -> Iterator[RemoteUser]:
        return map(_user, self._paged(f"{API}/group/{segment(group.lower())}/member", {"expand": "status"}))

    def user_groups(self, username: str) -> list[str]:
        found = self._paged(f"{API}/user/memberof", {"username": username.lower()})
        return [group["name"] for group in found]

    def add_member(self, group: str, username: str) -> None:
        self.http.request("PUT", self._membership(group, username))

    def remove_member(self, group: str, username: str) -> None:
        # 404: the user or the group is gone, so the membership is too.
        with contextlib.suppress(NotFound):
            self.http.request("DELETE", self._membership(group, username))

    def _membership(self, group: str, username: str) -> str:
        return f"{API}/user/{segment(username.lower())}/group/{segment(group.lower())}"

    # ----------------------------------------------------------------------------------------------
    # licence: membership of the "can use" group

    def grant_licence(self, username: str) -> None:
        self.add_member(self.licence_group, username)

    def revoke_licence(self, username: str) -> None:
        self.remove_member(self.licence_group, username)

    # ----------------------------------------------------------------------------------------------
    # space administrators (docs/products.md §3.14)

    def administered_alone(self, username: str) -> tuple[str, ...]:
        """The site spaces whose only "administer" grant is the account's own: one call for each
        page of spaces and one for each space (personal spaces are their owners' and are left out)."""
        if not self.capabilities().can_report_sole_admins:
            return ()
        account = self.get_user(username)
        if account is None or not account.key:
            return ()
        alone = []
        for space in self._paged(f"{API}/space", {"type": "global"}):
            key = space.get("key")
            granted = self._get_or_none(f"{API}/space/{segment(key)}/permissions") if key else None
            admins = {_subject(entry.get("subject")) for entry in granted or () if _administers(entry)}
            if admins == {("user", account.key)}:
                alone.append(f"space {key}")
        return tuple(alone)


def _administers(entry: Any) -> bool:
    operation = entry.get("operation") if isinstance(entry, dict) else None
    return isinstance(operation, dict) and operation.get("targetType") == "space" and \
        operation.get("operationKey") == "administer"


def _subject(subject: Any) -> tuple[str, str]:
    """Who a space permission is granted to: a user by key, a group by name, else anonymous."""
    subject = subject if isinstance(subject, dict) else {}
    kind = subject.get("type")
    if kind == "user":
        return "user", str(subject.get("userKey") or subject.get("username") or "")
    if kind == "group":
        return "group", str(subject.get("name", "")).lower()
    return str(kind or "anonymous"), ""
