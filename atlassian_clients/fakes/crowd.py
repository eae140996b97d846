"""Fake Crowd: state, JSON entities and error answers of ``usermanagement/1`` (docs/products.md §5).

The callers are *applications* (name and password, docs/products.md §5.2), kept apart from the
directory's users: ``add_application`` registers one, read-only or allowed to change the
directory. The fake's administrator name and password register the first application, which
may change everything, and an administrator *user* of that name in ``crowd-administrators`` (what a
fresh Crowd has). Each account also keeps the first and last name Crowd stores beside its
display name; ``PUT /user`` replaces all of them (docs/products.md §5.6).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from flask import Response

from atlassian_clients.fakes.directory import Account
from atlassian_clients.fakes.product import Caller, FakeProduct
from atlassian_clients.fakes.rest import json_response

API = "/rest/usermanagement/1"
ADMIN_GROUP = "crowd-administrators"
DIRECTORY_ID = 32769
# Crowd's error names per status, where a resource names none (docs/products.md §5.12).
DEFAULT_REASONS = {400: "ILLEGAL_ARGUMENT", 401: "INVALID_CREDENTIAL", 403: "APPLICATION_PERMISSION_DENIED",
                   404: "NOT_FOUND", 409: "OPERATION_FAILED"}
KEY_NAMESPACE = uuid.UUID("6f1c1d52-2b1e-4c53-9a52-8f0e6c5d3a10")


@dataclass(frozen=True)
class Application:
    name: str
    password: str
    may_change: bool = True


def split_display_name(display_name: str) -> tuple[str, str]:
    words = display_name.split()
    if not words:
        return "", ""
    return " ".join(words[:-1]) or words[0], words[-1]


class FakeCrowd(FakeProduct):
    name = "crowd"
    default_version = "6.1.2"
    rest_roots = (API,)
    internal_directory = "Crowd Internal Directory"

    def __init__(self, **options: Any) -> None:
        self.applications: dict[str, Application] = {}
        # account id -> (first name, last name); case-folded group name -> description
        self.names: dict[int, tuple[str, str]] = {}
        self.descriptions: dict[str, str] = {}
        super().__init__(**options)
        self.add_application(self.admin_user, options.get("admin_password", "admin"))

    # -- instance ----------------------------------------------------------------------------------

    def seed_instance(self) -> None:
        self.add_group(ADMIN_GROUP)

    def add_application(self, name: str, password: str, *, may_change: bool = True) -> Application:
        """Register an application that may call the REST API (``may_change``: write to the directory)."""
        with self.lock:
            application = self.applications[name.casefold()] = Application(name, password, may_change)
            return application

    def application(self, name: str) -> Application | None:
        return self.applications.get(name.casefold())

    def make_key(self, account_id: int, name: str) -> str:
        return f"{DIRECTORY_ID}:{uuid.uuid5(KEY_NAMESPACE, str(account_id))}"

    def grant_admin(self, name: str) -> None:
        self.add_member(ADMIN_GROUP, name)

    def is_admin(self, name: str) -> bool:
        return self.directory.is_member(ADMIN_GROUP, name)

    def first_and_last(self, account: Account) -> tuple[str, str]:
        return self.names.get(account.id) or split_display_name(account.display_name)

    def extra_state(self) -> dict[str, Any]:
        return {"applications": [{"name": a.name, "mayChange": a.may_change} for a in self.applications.values()]}

    # -- answers -----------------------------------------------------------------------------------

    def error_response(
        self, status: int, message: str, *, fields: dict[str, str] | None = None, exception: str | None = None
    ) -> Response:
        # {"reason", "message"} (docs/products.md §5.12); ``exception`` carries the reason.
        text = message or "; ".join((fields or {}).values())
        return json_response({"reason": exception or DEFAULT_REASONS.get(status, "OPERATION_FAILED"),
                              "message": text}, status)

    def bad_credentials_response(self) -> Response:
        # The application authentication filter, before any resource (docs/products.md §5.2).
        return Response("Application failed to authenticate", 401, content_type="text/plain;charset=UTF-8",
                        headers={"WWW-Authenticate": 'Basic realm="Crowd REST Service"'})

    def anonymous_response(self) -> Response:
        return self.bad_credentials_response()

    def forbidden_response(self, caller: Caller) -> Response:
        return self.error_response(
            403, f"Application '{caller.name}' does not have permission to change the directory's users, groups "
            "or memberships", exception="APPLICATION_PERMISSION_DENIED")

    # -- JSON entities -----------------------------------------------------------------------------

    @staticmethod
    def link(base: str, resource: str, query: str, value: str, rel: str = "self") -> dict[str, str]:
        return {"href": f"{base}{API}/{resource}?{query}={quote(value)}", "rel": rel}

    def user_entity(self, base: str, account: Account, *, expanded: bool = True) -> dict[str, Any]:
        """The user entity; a search or list without ``expand`` carries only name and link."""
        entity: dict[str, Any] = {"link": self.link(base, "user", "username", account.name), "name": account.name}
        if not expanded:
            return entity
        first, last = self.first_and_last(account)
        return {
            "expand": "attributes",
            **entity,
            "key": account.key,
            "password": {"link": self.link(base, "user/password", "username", account.name, "edit")},
            "active": account.active,
            "attributes": {"attributes": [], "link": self.link(base, "user/attribute", "username", account.name)},
            "first-name": first,
            "last-name": last,
            "display-name": account.display_name,
            "email": account.email,
        }

    def group_entity(self, base: str, name: str, *, expanded: bool = True) -> dict[str, Any]:
        entity: dict[str, Any] = {"link": self.link(base, "group", "groupname", name), "name": name}
        if not expanded:
            return entity
        description = self.descriptions.get(name.casefold(), "")
        return {"expand": "attributes", **entity, "description": description, "type": "GROUP", "active": True,
                "attributes": {"attributes": [], "link": self.link(base, "group/attribute", "groupname", name)}}
