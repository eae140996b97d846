"""Bitbucket Data Center (7.x to 9.x) user directory over ``/rest/api/latest`` (docs/products.md §4).

Bitbucket quirks handled here:

* user create takes query parameters only, no body, and answers 204 with nothing to read (docs/products.md §4.4);
  its ``password`` is therefore in the URL, where access and proxy logs keep it (docs/products.md §4.4). A
  random throwaway goes there and is replaced at once, in the JSON body of
  ``PUT /admin/users/credentials``, by the given password or a new random one (see ``create_user``);
* POSTs without a JSON body are stopped by the XSRF filter unless ``X-Atlassian-Token: no-check``
  is sent (docs/products.md §1.3): the transport sends it with every write;
* there is no deactivation: the licence is the ``LICENSED_USER`` global permission (docs/products.md §4.6, §4.10);
* personal access tokens cannot call admin endpoints (BSERV-10482, docs/products.md §4.2): basic auth is needed;
* ``admin/users/more-members`` lists a *user's groups* despite its spec text (docs/products.md §4.9);
* nothing lists what one user administers: every project and repository is read (docs/products.md §4.15).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from atlassian_clients.base import (
    AtlassianError,
    Capabilities,
    Creation,
    LicenceLimit,
    NotFound,
    PermissionDenied,
    ProductInfo,
    Rejected,
    RemoteGroup,
    RemoteUser,
    Seats,
    Unavailable,
    UserDirectory,
)
from atlassian_clients.http import ProductProfile, Transport, segment
from atlassian_clients.options import ClientOptions, option
from atlassian_clients.paging import bitbucket_page
from atlassian_clients.product import ProductClient, named, throwaway_password

API = "/rest/api/latest"
LICENSED_USER = "LICENSED_USER"


def _user(bean: dict[str, Any]) -> RemoteUser:
    key = bean.get("id")
    return RemoteUser(
        name=bean["name"],
        key=None if key is None else str(key),
        display_name=bean.get("displayName"),
        email=bean.get("emailAddress"),
        active=bean.get("active"),
        directory=bean.get("directoryName"),
        mutable=bean.get("mutableDetails"),
    )


@dataclass(frozen=True)
class BitbucketOptions(ClientOptions):
    add_to_default_group: bool = option(True, "a new account joins Bitbucket's default group (usually the "
                                              "licence); false leaves it unlicensed until the bridge grants one")


class BitbucketClient(ProductClient):
    """Bitbucket's users, groups and global permissions. See :class:`atlassian_clients.base.DirectoryClient`.

    ``add_to_default_group`` is sent on create (Bitbucket's default: true; false leaves the account
    unlicensed until :meth:`grant_licence`).
    """

    product = "bitbucket"
    page_rule = staticmethod(bitbucket_page)
    PROFILE = ProductProfile(
        label="Bitbucket",
        permission_hint="the account needs the ADMIN global permission (SYS_ADMIN to manage system "
        "administrators) and must sign in with basic auth: Bitbucket personal access tokens cannot call "
        "admin endpoints (BSERV-10482)",
    )

    Options = BitbucketOptions
    options: BitbucketOptions

    def __init__(self, transport: Transport, **options: Any) -> None:
        super().__init__(transport, **options)
        self.add_to_default_group = self.options.add_to_default_group
        # Accounts this client created whose password from the create's URL may still be set.
        self._url_password_set = _Names()

    def _read_product_info(self) -> ProductInfo:
        answer = self._get(f"{API}/application-properties")
        return self._product_info(answer, self._capabilities, self.user_directories())

    def _capabilities(self, version: tuple[int, ...]) -> Capabilities:
        # The same on every supported version.
        return Capabilities(
            can_create_user=True,
            can_deactivate=False,
            can_rename_user=True,
            can_find_by_email=True,
            can_read_seats=True,
            can_report_sole_admins=True,
            can_add_groups_at_once=True,
            licence=f"{LICENSED_USER} global permission",
        )

    def seats(self) -> Seats | None:
        """``GET /admin/license`` (docs/products.md §4.14): ``maximumNumberOfUsers`` and the licensed
        users counted now, ``status.currentNumberOfUsers``; ``None`` for an unlimited licence, or none
        installed (404)."""
        answer = self._get_or_none(f"{API}/admin/license") or {}
        total = answer.get("maximumNumberOfUsers")
        if answer.get("unlimitedNumberOfUsers") or not isinstance(total, int) or total < 0:
            return None
        used = (answer.get("status") or {}).get("currentNumberOfUsers")
        return Seats(used if isinstance(used, int) else 0, total, "server licence")

    def user_directories(self) -> tuple[UserDirectory, ...]:
        """The user directories, active and inactive (``GET /admin/user-directories``)."""
        answer = self._get(f"{API}/admin/user-directories", {"includeInactive": "true"})
        # A page of directories; the 9.4 spec declares a single RestUserDirectory, so accept that too.
        entries = answer.get("values", [answer] if "name" in answer else []) if isinstance(answer, dict) else answer
        return tuple(UserDirectory(d["name"], d.get("type"), d.get("active")) for d in entries)

    # ----------------------------------------------------------------------------------------------
    # users

    def _admin_users(self, text: str) -> Iterator[RemoteUser]:
        """``GET /admin/users?filter=``: substring of name, display name or e-mail (docs/products.md §4.3)."""
        return map(_user, self._paged(f"{API}/admin/users", {"filter": text}))

    def _lookup_user(self, username: str) -> RemoteUser | None:
        return named(self._admin_users(username), username, lambda user: user.name)

    def get_user(self, username: str) -> RemoteUser | None:
        """The account, once its password is no longer the one a failed create put in a URL.

        A create that failed ambiguously (see :meth:`create_user`) may have made the account
        anyway; the next delivery finds it here and would only link it. So the first look-up that
        finds such an account replaces that password, and one that finds nothing forgets the name.
        """
        user = self._lookup_user(username)
        if username in self._url_password_set:
            if user is None:
                self._url_password_set.discard(username)  # the create never landed
            else:
                self._replace_url_password(user.name, None)
        return user

    def find_users_by_email(self, email: str) -> list[RemoteUser]:
        return [user for user in self._admin_users(email) if self._emails_equal(user, email)]

    def create_user(
        self,
        username: str,
        display_name: str,
        email: str,
        *,
        password: str | None = None,
        application_keys: tuple[str, ...] | None = None,
    ) -> Creation[RemoteUser]:
        """Create with a throwaway password in the URL, then set ``password`` (or a new random one) in a body.

        Whenever the account may be this call's (created, found after an ambiguous failure, or
        "name taken" after one), the URL password is replaced before returning. If the create
        fails ambiguously, or the replacement fails, the name is remembered and the next
        :meth:`get_user` or :meth:`create_user` of it replaces it. An account someone else made
        ("name taken" without any doubt) keeps its password. The memory is this client's: after a
        restart an account left that way keeps the URL password until an administrator resets it.
        """
        params = {
            "name": username,
            "displayName": display_name,
            "emailAddress": email,
            "password": throwaway_password(),
            "addToDefaultGroup": "true" if self.add_to_default_group else "false",
            "notify": "false",
        }

        earlier = not self._url_password_set.add(username)
        try:
            with self._licence_refusal():
                creation = self._create_user_checked(username, f"{API}/admin/users", params=params)
        except Unavailable:
            raise  # the create may have landed: the name stays remembered
        except AtlassianError:
            self._url_password_set.discard(username)  # a definite refusal: nothing was created
            raise
        if creation.created or earlier:
            self._replace_url_password(creation.resource.name, password)
        else:
            self._url_password_set.discard(username)
        return creation

    def _replace_url_password(self, username: str, password: str | None) -> None:
        with contextlib.suppress(NotFound):  # deleted meanwhile: no password left to replace
            self.set_password(username, password if password is not None else throwaway_password())
        self._url_password_set.discard(username)

    def set_password(self, username: str, password: str) -> None:
        """``PUT /admin/users/credentials`` (the password travels in the body, not the URL)."""
        self.http.request(
            "PUT",
            f"{API}/admin/users/credentials",
            json={"name": username, "password": password, "passwordConfirm": password},
        )

    def update_user(self, username: str, *, display_name: str | None = None, email: str | None = None) -> None:
        changes = {k: v for k, v in (("displayName", display_name), ("email", email)) if v is not None}
        if changes:
            self.http.request("PUT", f"{API}/admin/users", json={"name": username, **changes})

    def set_active(self, username: str, active: bool) -> None:
        raise self._unsupported("deactivate a user: revoke the licence (revoke_licence) or delete the account")

    def rename_user(self, old: str, new: str) -> None:
        self._rename_checked(new, "POST", f"{API}/admin/users/rename", json={"name": old, "newName": new})

    def delete_user(self, username: str) -> None:
        self._unless_holds(
            lambda: self.http.request("DELETE", f"{API}/admin/users", params={"name": username}),
            lambda: self.get_user(username) is None,
            NotFound,
        )

    def iter_users(self) -> Iterator[RemoteUser]:
        return map(_user, self._paged(f"{API}/admin/users", {}))

    # ----------------------------------------------------------------------------------------------
    # groups

    def get_group(self, name: str) -> RemoteGroup | None:
        found = named(self._paged(f"{API}/admin/groups", {"filter": name}), name, lambda group: group["name"])
        return None if found is None else RemoteGroup(found["name"])

    def create_group(self, name: str) -> Creation[RemoteGroup]:
        return self._create_group_checked(name, f"{API}/admin/groups", params={"name": name})

    def delete_group(self, name: str) -> None:
        self._unless_holds(
            lambda: self.http.request("DELETE", f"{API}/admin/groups", params={"name": name}),
            lambda: self.get_group(name) is None,
            NotFound,
        )

    def iter_groups(self) -> Iterator[RemoteGroup]:
        return (RemoteGroup(group["name"]) for group in self._paged(f"{API}/admin/groups", {}))

    def iter_group_members(self, group: str) -> Iterator[RemoteUser]:
        return map(_user, self._paged(f"{API}/admin/groups/more-members", {"context": group}))

    def user_groups(self, username: str) -> list[str]:
        groups = [group["name"] for group in self._paged(f"{API}/admin/users/more-members", {"context": username})]
        if not groups and self.get_user(username) is None:
            # more-members answers an empty page for an unknown user; the protocol says NotFound.
            raise NotFound(self.target, f"Bitbucket has no user {username!r}")
        return groups

    def add_member(self, group: str, username: str) -> None:
        self.add_memberships(username, [group])

    def add_memberships(self, username: str, groups: Sequence[str]) -> None:
        """One ``add-groups`` call for all of them (docs/products.md §4.9). Whether a refused call
        joined some of them is not documented: the executor then adds one group a call, and an
        existing membership is left as it is."""
        with self._licence_refusal():
            self._unless_holds(
                lambda: self.http.request(
                    "POST", f"{API}/admin/users/add-groups", json={"user": username, "groups": list(groups)}
                ),
                lambda: self._is_member_of_all(groups, username),
                Rejected,
            )

    def remove_member(self, group: str, username: str) -> None:
        self._unless_holds(
            lambda: self.http.request(
                "POST", f"{API}/admin/users/remove-group", json={"context": username, "itemName": group}
            ),
            lambda: not self._is_member(group, username),
            NotFound,
            Rejected,
        )

    # ----------------------------------------------------------------------------------------------
    # licence: the LICENSED_USER global permission

    def grant_licence(self, username: str) -> None:
        self.set_global_permission(username, LICENSED_USER)

    def revoke_licence(self, username: str) -> None:
        """Revoke the user's direct global permissions (Bitbucket has no call for one permission).

        Licences granted through groups stay: remove the licence-granting memberships as well.
        """
        self._unless_holds(
            lambda: self.http.request("DELETE", f"{API}/admin/permissions/users", params={"name": username}),
            lambda: self.get_user(username) is None,
            NotFound,
        )

    def set_global_permission(self, username: str, permission: str) -> None:
        """``PUT /admin/permissions/users?name=&permission=`` (LICENSED_USER, PROJECT_CREATE, ADMIN, SYS_ADMIN)."""
        self.http.request("PUT", f"{API}/admin/permissions/users", params={"name": username, "permission": permission})

    # ----------------------------------------------------------------------------------------------
    # project and repository administrators (docs/products.md §4.15)

    def administered_alone(self, username: str) -> tuple[str, ...]:
        """The projects and repositories whose only admin grant is this account's: no group holds
        it, and for a repository nobody else administers its project either. No resource lists
        what one user administers (``permission=`` on ``/projects`` and ``/repos`` is the caller's
        own), so each project's and each repository's users are read, one call each besides the
        lists; its groups only where the account is the only user granted admin."""
        me = username.casefold()
        read: dict[tuple[str, str], frozenset[str]] = {}

        def granted(base: str, kind: str, permission: str) -> frozenset[str]:
            if (base, kind) not in read:  # a project's are read once, for it and for its repositories
                read[(base, kind)] = frozenset(
                    e[kind]["name"].casefold() for e in self._paged(f"{base}/{kind}s", {})
                    if e.get("permission") == permission and (e.get(kind) or {}).get("name"))
            return read[(base, kind)]

        def only_me(base: str, permission: str) -> bool:
            return granted(base, "user", permission) == {me} and not granted(base, "group", permission)

        def nobody_else(base: str, permission: str) -> bool:
            return granted(base, "user", permission) <= {me} and not granted(base, "group", permission)

        def project(key: str) -> str:
            return f"{API}/projects/{segment(key)}/permissions"

        alone = [f"project {p['key']}" for p in self._paged(f"{API}/projects", {})
                 if only_me(project(p["key"]), "PROJECT_ADMIN")]
        for repo in self._paged(f"{API}/repos", {}):
            key, slug = (repo.get("project") or {}).get("key"), repo.get("slug")
            if key and slug and only_me(f"{API}/projects/{segment(key)}/repos/{segment(slug)}/permissions",
                                        "REPO_ADMIN") and nobody_else(project(key), "PROJECT_ADMIN"):
                alone.append(f"repository {key}/{slug}")
        return tuple(alone)

    # ----------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _licence_refusal(self) -> Iterator[None]:
        """A licence refusal, not a permission one: both are 403 on create and add-groups (docs/products.md §4.4)."""
        try:
            yield
        except PermissionDenied as denied:
            # "Adding the user to the default group would exceed the server's license limit."
            if denied.product_message and "licen" in denied.product_message.lower():
                raise LicenceLimit(
                    self.target,
                    "Bitbucket has no licence left for this user",
                    status=403,
                    product_message=denied.product_message,
                ) from None
            raise


class _Names:
    """A thread-safe set of user names, compared case-insensitively as Bitbucket compares them."""

    def __init__(self) -> None:
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def add(self, name: str) -> bool:
        """Add ``name``; ``False`` if it was there already."""
        with self._lock:
            key = name.casefold()
            fresh = key not in self._names
            self._names.add(key)
            return fresh

    def discard(self, name: str) -> None:
        with self._lock:
            self._names.discard(name.casefold())

    def __contains__(self, name: str) -> bool:
        with self._lock:
            return name.casefold() in self._names
