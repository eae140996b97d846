"""Fake Bitbucket Data Center: state, JSON shapes and error answers (docs/products.md §4).

Bitbucket renames users but cannot deactivate them; a user is licensed through the
LICENSED_USER global permission, held directly or through a group such as the default group
new users join (docs/products.md §4.10). Administrators hold ADMIN or SYS_ADMIN. Personal access tokens work as
Bearer or as the Basic password, but can never hold ADMIN (§4.2). A permission failure answers 401
with AuthorisationException, as the document's status descriptions say. Projects and repositories hold
permissions granted to users and groups (docs/products.md §4.15); deleting a user drops the user's.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response

from atlassian_clients.fakes.directory import Account, fold
from atlassian_clients.fakes.product import Caller, FakeProduct
from atlassian_clients.fakes.rest import json_response

PERMISSIONS = ("LICENSED_USER", "PROJECT_CREATE", "ADMIN", "SYS_ADMIN")
# Who holds what on a project or repository: ("user" | "group", folded name) -> permission.
Grants = dict[tuple[str, str], str]
EXCEPTIONS = {
    400: "com.atlassian.bitbucket.validation.ArgumentValidationException",
    401: "com.atlassian.bitbucket.AuthorisationException",
    403: "com.atlassian.bitbucket.AuthorisationException",
    404: "com.atlassian.bitbucket.NoSuchEntityException",
    409: "com.atlassian.bitbucket.IntegrityException",
}


def user_slug(name: str) -> str:
    """URL-safe form of a username; it may differ from the name (docs/products.md §4.3)."""
    return re.sub(r"[^a-z0-9._-]", "_", name.lower())


def rank(permission: str | None) -> int:
    return PERMISSIONS.index(permission) + 1 if permission in PERMISSIONS else 0


class FakeBitbucket(FakeProduct):
    name = "bitbucket"
    default_version = "9.4.3"
    rest_roots = ("/rest/api/latest", "/rest/api/1.0")
    internal_directory = "Bitbucket Internal Directory"
    token_as_password = True
    tokens_may_administer = False

    def __init__(self, *, default_group: str = "stash-users", **options: Any) -> None:
        # The default group's name is instance-specific; "stash-users" is common on old instances.
        self.default_group = default_group
        self.user_permissions: dict[str, str] = {}
        self.group_permissions: dict[str, str] = {}
        # Licensed users the licence allows; beyond it adding a licence answers 403 (docs/products.md §4.4).
        self.licence_limit: int | None = None
        self.projects: dict[str, Grants] = {}  # by key
        self.repositories: dict[tuple[str, str], Grants] = {}  # by (project key, slug)
        super().__init__(**options)

    # -- instance ----------------------------------------------------------------------------------

    def seed_instance(self) -> None:
        self.add_group(self.default_group)
        self.group_permissions[fold(self.default_group)] = "LICENSED_USER"

    def make_key(self, account_id: int, name: str) -> str:
        return str(account_id)

    def add_project(self, key: str, *, admins: tuple[str, ...] = (), admin_groups: tuple[str, ...] = (),
                    writers: tuple[str, ...] = ()) -> None:
        """A project granting PROJECT_ADMIN to ``admins`` (users) and ``admin_groups``, PROJECT_WRITE to ``writers``."""
        with self.lock:
            self.projects[key] = _grants(admins, admin_groups, writers, "PROJECT_ADMIN", "PROJECT_WRITE")

    def add_repository(self, project: str, slug: str, *, admins: tuple[str, ...] = (),
                       admin_groups: tuple[str, ...] = (), writers: tuple[str, ...] = ()) -> None:
        """A repository of ``project`` (created bare if missing), granting REPO_ADMIN and REPO_WRITE."""
        with self.lock:
            self.projects.setdefault(project, {})
            self.repositories[(project, slug)] = _grants(admins, admin_groups, writers, "REPO_ADMIN", "REPO_WRITE")

    def resource_permissions(self) -> dict[str, dict[str, str]]:
        """Every project's (``KEY``) and repository's (``KEY/slug``) grants, ``user:NAME`` -> permission."""
        with self.lock:
            held = {key: grants for key, grants in self.projects.items()}
            held.update({f"{key}/{slug}": grants for (key, slug), grants in self.repositories.items()})
            return {where: {f"{kind}:{name}": p for (kind, name), p in sorted(grants.items())}
                    for where, grants in sorted(held.items())}

    def forget_user_grants(self, name: str) -> None:
        for grants in (*self.projects.values(), *self.repositories.values()):
            grants.pop(("user", fold(name)), None)

    def grant_admin(self, name: str) -> None:
        self.user_permissions[fold(name)] = "SYS_ADMIN"

    def permission_of(self, name: str) -> str | None:
        """The user's highest global permission, direct or through a group."""
        held = [self.user_permissions.get(fold(name))]
        if self.directory.user(name) is not None:
            held += [self.group_permissions.get(fold(g)) for g in self.directory.groups_of(name)]
        return max(held, key=rank) if any(held) else None

    def is_admin(self, name: str) -> bool:
        return rank(self.permission_of(name)) >= rank("ADMIN")

    def is_licensed(self, name: str) -> bool:
        return rank(self.permission_of(name)) >= rank("LICENSED_USER")

    def licence_would_overflow(self, name: str, groups: list[str]) -> bool:
        """Whether joining ``groups`` licenses ``name`` beyond the licence limit."""
        if self.licence_limit is None or self.is_licensed(name):
            return False
        if not any(rank(self.group_permissions.get(fold(g))) for g in groups):
            return False
        licensed = self.directory.memo(
            "licensed", lambda: sum(1 for a in self.directory.users() if self.is_licensed(a.name))
        )
        return licensed >= self.licence_limit

    alias = staticmethod(user_slug)

    def by_slug(self, slug: str) -> Account | None:
        return self.directory.user_by_alias(slug)

    def directories(self) -> list[str]:
        return sorted({self.internal_directory} | {a.directory for a in self.directory.users()})

    def extra_state(self) -> dict[str, Any]:
        return {
            "defaultGroup": self.default_group,
            "licenceLimit": self.licence_limit,
            "userPermissions": dict(sorted(self.user_permissions.items())),
            "groupPermissions": dict(sorted(self.group_permissions.items())),
            "licensedUsers": [a.name for a in self.directory.users() if self.is_licensed(a.name)],
            "resourcePermissions": self.resource_permissions(),
        }

    # -- answers -----------------------------------------------------------------------------------

    def error_response(
        self, status: int, message: str, *, fields: dict[str, str] | None = None, exception: str | None = None
    ) -> Response:
        # {"errors": [{"context", "message", "exceptionName"}]} (docs/products.md §4.13).
        name = exception or EXCEPTIONS.get(status)
        if fields:
            errors = [{"context": field, "message": text, "exceptionName": name} for field, text in fields.items()]
        else:
            errors = [{"context": None, "message": message, "exceptionName": name}]
        return json_response({"errors": errors}, status)

    def bad_credentials_response(self) -> Response:
        return self.error_response(
            401,
            "Authentication failed. Please check your credentials and try again.",
            exception="com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException",
        )

    def anonymous_response(self) -> Response:
        return self.error_response(401, "You are not permitted to access this resource")

    def forbidden_response(self, caller: Caller) -> Response:
        if caller.token:
            # BSERV-10482: a token cannot carry ADMIN, so admin resources refuse it.
            return self.error_response(
                401,
                "You are not permitted to access this resource: tokens may not have the following permission: ADMIN. "
                "Use HTTP Basic authentication with an ADMIN account.",
            )
        return self.error_response(401, "You are not permitted to access this resource")

    # -- JSON shapes -------------------------------------------------------------------------------

    def application_user(self, base: str, account: Account) -> dict[str, Any]:
        slug = user_slug(account.name)
        return {
            "name": account.name,
            "emailAddress": account.email,
            "active": account.active,
            "displayName": account.display_name,
            "id": account.id,
            "slug": slug,
            "type": "NORMAL",
            "links": {"self": [{"href": f"{base}/users/{slug}"}]},
        }

    def detailed_user(self, base: str, account: Account, caller_name: str | None = None) -> dict[str, Any]:
        return {
            **self.application_user(base, account),
            "directoryName": account.directory,
            "deletable": caller_name is None or fold(caller_name) != fold(account.name),
            "mutableDetails": self.writable(account),
            "mutableGroups": True,
        }

    @staticmethod
    def detailed_group(name: str) -> dict[str, Any]:
        return {"name": name, "deletable": True}

    def application_properties(self) -> dict[str, Any]:
        numbers = [int(part) for part in self.version.split(".")]
        build = numbers[0] * 1000000 + numbers[1] * 1000 + (numbers[2] if len(numbers) > 2 else 0)
        return {
            "version": self.version,
            "buildNumber": str(build),
            "buildDate": "1735689600000",
            "displayName": "Bitbucket",
        }


def _grants(admins, admin_groups, writers, admin: str, write: str) -> Grants:
    grants: Grants = {("user", fold(n)): write for n in writers}
    grants.update({("user", fold(n)): admin for n in admins})
    grants.update({("group", fold(g)): admin for g in admin_groups})
    return grants
