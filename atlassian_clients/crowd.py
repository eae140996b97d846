"""Atlassian Crowd, and Jira acting as user server, over ``/rest/usermanagement/1`` (docs/products.md §5).

Many Data Center sites keep their users in one Crowd directory that Jira, Confluence and Bitbucket
read; provisioning that directory serves all of them (docs/products.md §5.1). Crowd quirks handled here:

* the caller is an *application*, with its name and password as basic auth (docs/products.md §5.2);
* a create needs a password: a random one goes in the JSON body, never in a URL (§5.5);
* ``PUT /user`` replaces the whole entity, blanking what is left out, so an update or a
  (de)activation reads the account and sends it back whole (docs/products.md §5.6);
* adding an existing membership answers 409, adding an unknown user 400 (docs/products.md §5.10);
* the direct-membership lists answer an empty list, not 404, for an unknown user or group (§5.10);
* Crowd licenses no one: the products license the groups they map (docs/products.md §5.11).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from atlassian_clients.base import (
    Capabilities,
    Conflict,
    Creation,
    NotFound,
    ProductInfo,
    Rejected,
    RemoteGroup,
    RemoteUser,
)
from atlassian_clients.http import ProductProfile
from atlassian_clients.options import ClientOptions, option
from atlassian_clients.paging import crowd_page, pages
from atlassian_clients.product import ProductClient, throwaway_password

API = "/rest/usermanagement/1"
# The fields of a user entity that PUT /user replaces (docs/products.md §5.6).
ENTITY_FIELDS = ("name", "first-name", "last-name", "display-name", "email", "active")
# The same for every Crowd version that has these resources (docs/products.md §5.14).
CAPABILITIES = Capabilities(
    can_create_user=True,
    can_deactivate=True,
    can_rename_user=True,
    can_find_by_email=True,
    licence="",
)


def _user(entity: dict[str, Any]) -> RemoteUser:
    return RemoteUser(
        name=entity["name"],
        key=entity.get("key"),
        display_name=entity.get("display-name"),
        email=entity.get("email"),
        active=entity.get("active"),
    )


def name_parts(display_name: str) -> dict[str, str]:
    """``first-name`` and ``last-name`` from a display name: the last word, and the words before it
    (the one word twice when there is only one) (docs/products.md §5.5)."""
    words = display_name.split()
    if not words:
        return {"first-name": "", "last-name": ""}
    return {"first-name": " ".join(words[:-1]) or words[0], "last-name": words[-1]}


def cql_string(value: str) -> str:
    """``value`` as a quoted Crowd Query Language string (docs/products.md §5.4)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class CrowdOptions(ClientOptions):
    group_description: str = option("scim-bridge", "description of the groups the bridge creates in Crowd "
                                                   "(its console shows it)")


class CrowdClient(ProductClient):
    """Crowd's users, groups and memberships. See :class:`atlassian_clients.base.DirectoryClient`.

    The target's ``username`` and ``password`` are the application's name and password.
    """

    product = "crowd"
    PROFILE = ProductProfile(
        label="Crowd",
        permission_hint="the application needs the create, modify and delete permissions for users, groups and "
        "memberships on the directory it writes to (Crowd: Applications › the application › Permissions)",
    )

    Options = CrowdOptions
    options: CrowdOptions

    def _read_product_info(self) -> ProductInfo:
        # usermanagement/1 tells an application no version (docs/products.md §5.1): one group
        # search proves that the application's credentials and address are accepted.
        self._get(f"{API}/search", {"entity-type": "group", "max-results": 1})
        return ProductInfo(self.product, "", None, CAPABILITIES)

    # ----------------------------------------------------------------------------------------------
    # users

    def get_user(self, username: str) -> RemoteUser | None:
        entity = self._get_or_none(f"{API}/user", {"username": username})
        return None if entity is None else _user(entity)

    def find_users_by_email(self, email: str) -> list[RemoteUser]:
        found = self._search("user", restriction=f"email = {cql_string(email)}")
        return [user for user in map(_user, found) if self._emails_equal(user, email)]

    def create_user(
        self,
        username: str,
        display_name: str,
        email: str,
        *,
        password: str | None = None,
        application_keys: tuple[str, ...] | None = None,
    ) -> Creation[RemoteUser]:
        # Crowd refuses a user without a password (docs/products.md §5.5). People sign in through
        # the identity provider, so the account gets a random one nobody learns; it travels in the
        # body, not in a URL where access logs would keep it.
        body = {
            "name": username,
            "password": {"value": throwaway_password() if password is None else password},
            "active": True,
            **name_parts(display_name),
            "display-name": display_name,
            "email": email,
        }
        return self._create_user_checked(username, f"{API}/user", json=body)

    def update_user(self, username: str, *, display_name: str | None = None, email: str | None = None) -> None:
        changes: dict[str, Any] = {}
        if display_name is not None:
            changes.update(name_parts(display_name), **{"display-name": display_name})
        if email is not None:
            changes["email"] = email
        if changes:
            self._replace_user(username, changes)

    def set_active(self, username: str, active: bool) -> None:
        self._replace_user(username, {"active": active})

    def _replace_user(self, username: str, changes: dict[str, Any]) -> None:
        """PUT /user replaces the whole entity (docs/products.md §5.6): read it, change it, send it back."""
        current = self._get(f"{API}/user", {"username": username})
        entity = {field: current[field] for field in ENTITY_FIELDS if field in current}
        entity.update(changes)
        # The entity's name must be the one in the query (400 otherwise): the stored spelling.
        self.http.request("PUT", f"{API}/user", params={"username": current["name"]}, json=entity)

    def rename_user(self, old: str, new: str) -> None:
        self._rename_checked(new, "POST", f"{API}/user/rename", params={"username": old}, json={"new-name": new})

    def delete_user(self, username: str) -> None:
        self._unless_holds(
            lambda: self.http.request("DELETE", f"{API}/user", params={"username": username}),
            lambda: self.get_user(username) is None,
            NotFound,
        )

    def iter_users(self) -> Iterator[RemoteUser]:
        return map(_user, self._search("user"))

    # ----------------------------------------------------------------------------------------------
    # groups

    def get_group(self, name: str) -> RemoteGroup | None:
        entity = self._get_or_none(f"{API}/group", {"groupname": name})
        return None if entity is None else RemoteGroup(entity["name"])

    def create_group(self, name: str) -> Creation[RemoteGroup]:
        body = {"name": name, "type": "GROUP", "description": self.options.group_description, "active": True}
        return self._create_group_checked(name, f"{API}/group", json=body)

    def delete_group(self, name: str) -> None:
        self._unless_holds(
            lambda: self.http.request("DELETE", f"{API}/group", params={"groupname": name}),
            lambda: self.get_group(name) is None,
            NotFound,
        )

    def iter_groups(self) -> Iterator[RemoteGroup]:
        return (RemoteGroup(entity["name"]) for entity in self._search("group"))

    def iter_group_members(self, group: str) -> Iterator[RemoteUser]:
        members = self._listed(f"{API}/group/user/direct", {"groupname": group, "expand": "user"}, "users")
        found = False
        for entity in members:
            found = True
            yield _user(entity)
        # An unknown group answers an empty list, not 404 (CWD-4470, docs/products.md §5.10).
        if not found and self.get_group(group) is None:
            raise NotFound(self.target, f"Crowd has no group {group!r}")

    def user_groups(self, username: str) -> list[str]:
        listed = self._listed(f"{API}/user/group/direct", {"username": username}, "groups")
        groups = [entity["name"] for entity in listed]
        # An unknown user answers an empty list, not 404 (CWD-4470, docs/products.md §5.10).
        if not groups and self.get_user(username) is None:
            raise NotFound(self.target, f"Crowd has no user {username!r}")
        return groups

    def add_member(self, group: str, username: str) -> None:
        try:
            # 409: already a member (docs/products.md §5.10).
            self._unless_holds(
                lambda: self.http.request(
                    "POST", f"{API}/group/user/direct", params={"groupname": group}, json={"name": username}
                ),
                lambda: self._is_member(group, username),
                Conflict,
            )
        except Rejected as refused:
            # 400 is Crowd's "no such user" here; the protocol says NotFound, once that is checked.
            if self.get_user(username) is not None:
                raise
            raise NotFound(
                self.target,
                f"Crowd has no user {username!r} to add to {group!r}",
                status=refused.status,
                product_message=refused.product_message,
            ) from None

    def remove_member(self, group: str, username: str) -> None:
        # 404: the membership, the user or the group is missing (docs/products.md §5.10).
        self._unless_holds(
            lambda: self.http.request(
                "DELETE", f"{API}/group/user/direct", params={"groupname": group, "username": username}
            ),
            lambda: not self._is_member(group, username),
            NotFound,
        )

    # ----------------------------------------------------------------------------------------------
    # no licence in Crowd (docs/products.md §5.11)

    def grant_licence(self, username: str) -> None:
        raise self._licence_unsupported()

    def revoke_licence(self, username: str) -> None:
        raise self._licence_unsupported()

    def _licence_unsupported(self):
        return self._unsupported(
            "license an account: the products connected to Crowd license the groups they map; list those "
            "groups (e.g. jira-software-users) in the target's default_groups"
        )

    # ----------------------------------------------------------------------------------------------
    # lists (docs/products.md §5.4)

    def _search(self, entity_type: str, restriction: str | None = None) -> Iterator[dict[str, Any]]:
        params = {"entity-type": entity_type, "expand": entity_type}
        if restriction is not None:
            params["restriction"] = restriction
        return self._listed(f"{API}/search", params, f"{entity_type}s")

    def _listed(self, path: str, params: dict[str, Any], entities: str) -> Iterator[dict[str, Any]]:
        size = self.page_size
        return pages(
            lambda start: self._get(path, {**params, "start-index": start, "max-results": size}),
            crowd_page(entities, size),
        )
