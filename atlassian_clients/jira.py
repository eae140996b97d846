"""Jira Data Center (8.x to 11) user directory over ``/rest/api/2`` (docs/products.md §2).

Jira quirks handled here:

* user create, update, delete and application access are ``x-experimental`` in the 10.3 spec;
  they are sent with ``X-ExperimentalApi: true`` (docs/products.md §2.2);
* the user *key* is not the user name (``JIRAUSER10100`` since 8.4, docs/products.md §1.6): both are reported;
* adding an existing member answers 400 (docs/products.md §2.10), creating an existing user or group answers 400;
* there is no group pager: ``/groups/picker`` returns a ``total`` that is used to ask for all;
* ``/user/list`` (cursor pages) exists from 10.3; older versions are listed through
  ``/user/search``, which Jira 10 caps at 100 results (JRASERVER-78660).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from atlassian_clients.base import (
    ApplicationRole,
    AtlassianError,
    Capabilities,
    Creation,
    Led,
    LedComponent,
    NotFound,
    ProductInfo,
    Rejected,
    RemoteGroup,
    RemoteUser,
    Seats,
    Unsupported,
)
from atlassian_clients.http import ProductProfile, Transport, segment
from atlassian_clients.options import ClientOptions, option
from atlassian_clients.paging import jira_cursor_page, jira_page, pages, plain_list_page
from atlassian_clients.product import ProductClient, named

API = "/rest/api/2"
EXPERIMENTAL = {"X-ExperimentalApi": "true"}
# Jira answers /group/member with at most 50 users a page whatever maxResults asks for.
MEMBERS_PAGE = 50
# /user/search caps at 100 from Jira 10 (JRASERVER-78660); 1000 before.
SEARCH_CAP = 100
# How long the applications' default groups, read from /applicationrole, are taken as they were; how
# long and how many just-created accounts are remembered with them (see ``add_member``).
ROLES_SECONDS = 300.0
CREATED_SECONDS = 60.0
CREATED_KEPT = 1024


def _user(bean: dict[str, Any]) -> RemoteUser:
    return RemoteUser(
        name=bean["name"],
        key=bean.get("key"),
        display_name=bean.get("displayName"),
        email=bean.get("emailAddress"),
        active=bean.get("active"),
    )


def _group_names(bean: dict) -> list[str]:
    """The groups of a user answer asked with ``expand=groups``."""
    return [group["name"] for group in (bean.get("groups") or {}).get("items") or []]


@dataclass(frozen=True)
class JiraOptions(ClientOptions):
    group_picker_limit: int = option(1000, "groups asked of /groups/picker at once (Jira has no group pager)")


class JiraClient(ProductClient):
    """Jira's users, groups and application access. See :class:`atlassian_clients.base.DirectoryClient`.

    ``application_keys`` (e.g. ``("jira-software",)``) is what :meth:`grant_licence` grants and what
    a create asks for when the caller passes none. Empty (the default) means Jira's own default:
    a create leaves ``applicationKeys`` out, so Jira grants the applications "selected by default"
    (docs/products.md §2.5), and :meth:`grant_licence` grants those same applications. It is not
    one of the ``Options``: the bridge passes the target's ``rules.application_keys``, which also
    decide what a create asks for, so one setting says what a Jira licence is.
    """

    product = "jira"
    PROFILE = ProductProfile(
        label="Jira",
        permission_hint="the account needs the Jira Administrators global permission (System Administrators "
        "to manage administrators); a personal access token acts with its owner's permissions",
    )

    Options = JiraOptions
    options: JiraOptions

    def __init__(self, transport: Transport, *, application_keys: tuple[str, ...] = (), **options: Any) -> None:
        super().__init__(transport, **options)
        self.application_keys = tuple(application_keys)
        self.group_picker_limit = self.options.group_picker_limit
        # Accounts this client just created -> when, and the application keys the create asked for
        # (() = Jira's default applications): the groups those put the account in need no add.
        self._created: OrderedDict[str, tuple[float, tuple[str, ...], set[str]]] = OrderedDict()
        self._default_groups: tuple[float, dict[str | None, frozenset[str]]] | None = None
        self._created_lock = threading.Lock()

    def _read_product_info(self) -> ProductInfo:
        return self._product_info(self._get(f"{API}/serverInfo"), self._capabilities)

    def _capabilities(self, version: tuple[int, ...]) -> Capabilities:
        return Capabilities(
            can_create_user=True,
            can_deactivate=version >= (8, 3),  # JRASERVER-37294
            can_rename_user=True,
            can_find_by_email=True,
            can_hand_over_leads=True,
            can_read_seats=True,
            licence="application access " + (", ".join(self.application_keys) or "(Jira's default applications)"),
        )

    # ----------------------------------------------------------------------------------------------
    # users

    def get_user(self, username: str) -> RemoteUser | None:
        self._forget_created(username)  # what is planned from here on goes by the product's answers
        bean = self._get_or_none(f"{API}/user", {"username": username})
        return None if bean is None else _user(bean)

    def get_user_and_groups(self, username: str) -> tuple[RemoteUser | None, list[str] | None]:
        # The account with its groups expanded: user_groups' own call, which carries the account too.
        self._forget_created(username)
        bean = self._get_or_none(f"{API}/user", {"username": username, "expand": "groups"})
        return (None, None) if bean is None else (_user(bean), _group_names(bean))

    def find_users_by_email(self, email: str) -> list[RemoteUser]:
        # /user/search matches user name, display name and e-mail; keep exact e-mail matches only.
        found = self._get(
            f"{API}/user/search",
            {"username": email, "includeActive": "true", "includeInactive": "true", "maxResults": SEARCH_CAP},
        )
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
        body: dict[str, Any] = {"name": username, "displayName": display_name, "emailAddress": email}
        if password is not None:
            body["password"] = password  # without one, Jira generates a random password
        # Keys are sent only when some are asked for: Jira reads an absent applicationKeys as "the
        # applications selected by default" (docs/products.md §2.5) but an empty list as "no application at all"
        # (third-party practice, pycontribs/jira#549), which nobody configuring [] meant.
        keys = tuple(application_keys or ()) or self.application_keys
        if keys:
            body["applicationKeys"] = list(keys)
        creation = self._create_user_checked(username, f"{API}/user", json=body, headers=EXPERIMENTAL)
        if creation.created:
            with self._created_lock:
                self._created[username.casefold()] = (time.monotonic(), keys, set())
                while len(self._created) > CREATED_KEPT:
                    self._created.popitem(last=False)
        return creation

    def _created_user(self, username: str, answer: requests.Response | None) -> RemoteUser:
        # Jira's 201 carries the account: no read-back call (docs/products.md §2.5).
        try:
            bean = answer.json() if answer is not None and answer.content else None
        except ValueError:
            bean = None
        if isinstance(bean, dict) and bean.get("name"):
            return _user(bean)
        return super()._created_user(username, answer)

    def update_user(self, username: str, *, display_name: str | None = None, email: str | None = None) -> None:
        changes = {k: v for k, v in (("displayName", display_name), ("emailAddress", email)) if v is not None}
        if changes:
            self._put_user(username, changes)

    def set_active(self, username: str, active: bool) -> None:
        # Jira 8.3+ (JRASERVER-37294); older versions refuse with 400 "error.no.value.found.to.be.changed".
        self._put_user(username, {"active": active})

    def rename_user(self, old: str, new: str) -> None:
        self._forget_created(old)
        self._rename_checked(
            new, "PUT", f"{API}/user", params={"username": old}, json={"name": new}, headers=EXPERIMENTAL
        )

    def delete_user(self, username: str) -> None:
        self._forget_created(username)
        self._unless_holds(
            lambda: self.http.request("DELETE", f"{API}/user", params={"username": username}, headers=EXPERIMENTAL),
            lambda: self.get_user(username) is None,
            NotFound,
            Rejected,
        )

    def iter_users(self) -> Iterator[RemoteUser]:
        if self.product_info().version_tuple >= (10, 3):

            def fetch(cursor):
                params = {"maxResults": self.page_size}
                if cursor is not None:
                    params["cursor"] = cursor
                return self._get(f"{API}/user/list", params)

            beans = pages(fetch, jira_cursor_page, first=None)
        else:
            # Before 10.3 there is no lister; "." matches every user name in /user/search (third-party
            # practice, e.g. atlassian-python-api), paged by startAt.
            size = min(self.page_size, SEARCH_CAP)
            beans = pages(
                lambda start: self._get(
                    f"{API}/user/search",
                    {
                        "username": ".",
                        "includeActive": "true",
                        "includeInactive": "true",
                        "startAt": start,
                        "maxResults": size,
                    },
                ),
                plain_list_page(size),
            )
        yield from map(_user, beans)

    def _put_user(self, username: str, changes: dict[str, Any]) -> None:
        self.http.request("PUT", f"{API}/user", params={"username": username}, json=changes, headers=EXPERIMENTAL)

    # ----------------------------------------------------------------------------------------------
    # groups

    def get_group(self, name: str) -> RemoteGroup | None:
        found = named(self._picker(name), name, str)
        return None if found is None else RemoteGroup(found)

    def create_group(self, name: str) -> Creation[RemoteGroup]:
        return self._create_group_checked(name, f"{API}/group", json={"name": name})

    def delete_group(self, name: str) -> None:
        # 404, or 400 "group does not exist" (spec removeGroup): fine when the group is really gone.
        self._unless_holds(
            lambda: self.http.request("DELETE", f"{API}/group", params={"groupname": name}),
            lambda: self.get_group(name) is None,
            NotFound,
            Rejected,
        )

    def iter_groups(self) -> Iterator[RemoteGroup]:
        yield from (RemoteGroup(name) for name in self._picker(None))

    def _picker(self, query: str | None) -> list[str]:
        """Group names from ``/groups/picker``; asks again for ``total`` when the first answer is short."""
        params: dict[str, Any] = {"maxResults": self.group_picker_limit}
        if query:
            params["query"] = query
        answer = self._get(f"{API}/groups/picker", params)
        total = answer.get("total")
        if isinstance(total, int) and total > len(answer.get("groups") or []):
            answer = self._get(f"{API}/groups/picker", {**params, "maxResults": total})
        return [group["name"] for group in answer.get("groups") or []]

    def iter_group_members(self, group: str) -> Iterator[RemoteUser]:
        size = min(self.page_size, MEMBERS_PAGE)
        beans = pages(
            lambda start: self._get(
                f"{API}/group/member",
                {
                    "groupname": group,
                    "includeInactiveUsers": "true",
                    "startAt": start,
                    "maxResults": size,
                },
            ),
            jira_page,
        )
        yield from map(_user, beans)

    def user_groups(self, username: str) -> list[str]:
        self._forget_created(username)
        return _group_names(self._get(f"{API}/user", {"username": username, "expand": "groups"}))

    def add_member(self, group: str, username: str) -> None:
        if self._joined_by_create(group, username):
            return
        # Jira answers 400 when the user already belongs to the group (spec addUserToGroup).
        self._unless_holds(
            lambda: self.http.request(
                "POST", f"{API}/group/user", params={"groupname": group}, json={"name": username}
            ),
            lambda: self._is_member(group, username),
            Rejected,
        )

    def _joined_by_create(self, group: str, username: str) -> bool:
        """Whether this client created ``username`` moments ago with applications whose default
        groups include ``group``: the create put the account there (docs/products.md §2.5), so an add
        would only answer 400 and cost a read to verify. Only the adds that follow the create with no
        read of the account between (the rest of the plan that created it) are told so, once per
        group; a read or any other change of the account forgets it; any doubt sends the add."""
        folded, wanted = username.casefold(), group.casefold()
        with self._created_lock:
            created = self._created.get(folded)
        if created is None or time.monotonic() - created[0] > CREATED_SECONDS:
            return False
        _, keys, told = created
        try:
            joined = self._groups_granted_by(keys)
        except AtlassianError:
            return False  # the roles cannot be read: the add and its check decide
        with self._created_lock:
            if wanted not in joined or wanted in told or self._created.get(folded) is not created:
                return False
            told.add(wanted)
        return True

    def _forget_created(self, username: str) -> None:
        with self._created_lock:
            self._created.pop(username.casefold(), None)

    def _groups_granted_by(self, keys: tuple[str, ...]) -> frozenset[str]:
        """The default groups of the applications ``keys`` (() = those selected by default), from
        ``/applicationrole`` read at most every ROLES_SECONDS."""
        now = time.monotonic()
        cached = self._default_groups
        if cached is None or now - cached[0] > ROLES_SECONDS:
            roles = self.application_roles()
            by_key: dict[str | None, frozenset[str]] = {
                r.key: frozenset(g.casefold() for g in r.default_groups) for r in roles}
            by_key[None] = frozenset(g.casefold() for r in roles if r.selected_by_default
                                     for g in r.default_groups)
            cached = self._default_groups = (now, by_key)
        groups = cached[1]
        return frozenset().union(*(groups.get(k, frozenset()) for k in keys)) if keys else groups[None]

    def remove_member(self, group: str, username: str) -> None:
        self._forget_created(username)
        self._unless_holds(
            lambda: self.http.request("DELETE", f"{API}/group/user", params={"groupname": group, "username": username}),
            lambda: not self._is_member(group, username),
            NotFound,
            Rejected,
        )

    # ----------------------------------------------------------------------------------------------
    # application access (licence)

    def grant_licence(self, username: str) -> None:
        for key in self._licence_keys():
            self.grant_application_access(username, key)

    def revoke_licence(self, username: str) -> None:
        for key in self._licence_keys():
            self.revoke_application_access(username, key)

    def _licence_keys(self) -> tuple[str, ...]:
        """The configured keys, else the applications Jira selects by default for new users (docs/products.md §2.11)."""
        if self.application_keys:
            return self.application_keys
        keys = tuple(role.key for role in self.application_roles() if role.selected_by_default)
        if not keys:
            raise Unsupported(
                self.target,
                "Jira selects no application by default for new users: set application_keys to the "
                "applications a licence means",
            )
        return keys

    def seats(self) -> Seats | None:
        """The seats of the licence's applications (docs/products.md §2.14): ``GET /applicationrole``
        reports ``numberOfSeats`` and ``remainingSeats`` per application; of the configured keys (else
        the applications selected by default) the one with the fewest seats left, since a new account
        takes a seat of each. ``None`` when every one is unlimited."""
        roles = self.application_roles()
        wanted = set(self.application_keys) or {r.key for r in roles if r.selected_by_default}
        counted = [Seats(r.seats - r.remaining if r.remaining is not None else r.user_count or 0, r.seats, r.key)
                   for r in roles if r.key in wanted and r.seats is not None]
        return min(counted, key=lambda s: (s.remaining, s.licence), default=None)

    def application_roles(self) -> list[ApplicationRole]:
        """The applications this Jira has, with their licence seats (``GET /applicationrole``;
        docs/products.md §2.11)."""
        return [_application_role(bean) for bean in self._get(f"{API}/applicationrole")]

    def application_access(self, username: str) -> list[str]:
        """Keys of the applications the user may use (``expand=applicationRoles``)."""
        bean = self._get(f"{API}/user", {"username": username, "expand": "applicationRoles"})
        return [role["key"] for role in (bean.get("applicationRoles") or {}).get("items") or []]

    def grant_application_access(self, username: str, application_key: str) -> None:
        """``POST /user/application`` (adds the user to the application's default groups)."""
        self._unless_holds(
            lambda: self._application_call("POST", username, application_key),
            lambda: application_key in self.application_access(username),
            Rejected,
        )

    def revoke_application_access(self, username: str, application_key: str) -> None:
        self._forget_created(username)
        self._unless_holds(
            lambda: self._application_call("DELETE", username, application_key),
            lambda: self.get_user(username) is None or application_key not in self.application_access(username),
            Rejected,
            NotFound,
        )

    def _application_call(self, method: str, username: str, application_key: str) -> None:
        self.http.request(
            method,
            f"{API}/user/application",
            headers=EXPERIMENTAL,
            params={"username": username, "applicationKey": application_key},
        )

    # ----------------------------------------------------------------------------------------------
    # project and component leads (docs/products.md §2.13)

    def led_by(self, username: str) -> Led:
        # ``expand=lead`` puts the lead's UserBean in each project of the list; components come
        # per project, each with ``leadUserName``. One call per project: read only for a leaver.
        folded = username.casefold()
        projects, components = [], []
        for project in self._get(f"{API}/project", {"expand": "lead"}):
            key = project["key"]
            if ((project.get("lead") or {}).get("name") or "").casefold() == folded:
                projects.append(key)
            for component in self._get(f"{API}/project/{segment(key)}/components"):
                if (component.get("leadUserName") or "").casefold() == folded:
                    components.append(LedComponent(str(component["id"]), key, component.get("name", "")))
        return Led(tuple(projects), tuple(components))

    def set_project_lead(self, project: str, username: str) -> None:
        # updateProject takes the lead's username as ``lead`` (8.x to 10.3 alike); a PUT of the same
        # lead again is a no-op, so a retry after an ambiguous failure is harmless.
        self.http.request("PUT", f"{API}/project/{segment(project)}", json={"lead": username})

    def set_component_lead(self, component: str, username: str) -> None:
        self.http.request("PUT", f"{API}/component/{segment(component)}", json={"leadUserName": username})


def _application_role(bean: dict) -> ApplicationRole:
    seats, remaining = bean.get("numberOfSeats"), bean.get("remainingSeats")
    unlimited = bean.get("hasUnlimitedSeats") or not isinstance(seats, int) or seats < 0
    return ApplicationRole(bean["key"], bean.get("name") or bean["key"], bool(bean.get("selectedByDefault")),
                           tuple(bean.get("defaultGroups") or ()), bean.get("userCount"),
                           None if unlimited else seats,
                           remaining if not unlimited and isinstance(remaining, int) else None)
