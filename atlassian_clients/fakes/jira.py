"""Fake Jira Data Center: state, JSON shapes and error answers (docs/products.md §2).

Usernames are case-insensitive, new users get keys like ``JIRAUSER10001`` (user key is not the
username, docs/products.md §1.6), administrators are the members of ``jira-administrators``, and application
access (the licence) is membership of an application role's groups (docs/products.md §2.11).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from flask import Response

from atlassian_clients.fakes.directory import Account, fold
from atlassian_clients.fakes.product import Caller, FakeProduct
from atlassian_clients.fakes.rest import json_response, seraph_failure_response

ADMIN_GROUPS = ("jira-administrators", "jira-system-administrators")


@dataclass
class ApplicationRole:
    key: str
    name: str
    groups: list[str]
    default_groups: list[str]
    selected_by_default: bool = False
    seats: int | None = None  # the licence's user limit; None: unlimited (docs/products.md §2.14)


@dataclass
class Project:
    """A project and its lead's username (docs/products.md §2.13)."""

    id: int
    key: str
    name: str
    lead: str


@dataclass
class Component:
    id: str
    project: str
    name: str
    lead: str | None


class FakeJira(FakeProduct):
    name = "jira"
    default_version = "10.3.4"
    rest_roots = ("/rest/api/2", "/rest/api/latest")
    internal_directory = "Jira Internal Directory"

    def __init__(self, **options: Any) -> None:
        self.application_roles: dict[str, ApplicationRole] = {}
        self.projects: dict[str, Project] = {}  # by key
        self.components: dict[str, Component] = {}  # by id
        # Changes Jira refused because an application's seats were all taken (tests count them).
        self.licence_refusals = 0
        super().__init__(**options)

    # -- instance ----------------------------------------------------------------------------------

    def seed_instance(self) -> None:
        self.add_group("jira-administrators")
        self.add_application_role(
            "jira-software",
            "Jira Software",
            groups=["jira-software-users", "jira-administrators"],
            default_groups=["jira-software-users"],
            selected_by_default=True,
        )

    def add_application_role(
        self, key: str, name: str, *, groups: list[str], default_groups: list[str], selected_by_default: bool = False
    ) -> ApplicationRole:
        with self.lock:
            for group in groups:
                self.add_group(group)
            role = ApplicationRole(key, name, list(groups), list(default_groups), selected_by_default)
            self.application_roles[key] = role
            return role

    def add_project(self, key: str, lead: str, components: dict[str, str | None] | None = None) -> Project:
        """A project led by ``lead``, with components (name -> lead's username, None: no lead)."""
        with self.lock:
            project = Project(10000 + len(self.projects), key, f"Project {key}", lead)
            self.projects[key] = project
            for name, component_lead in (components or {}).items():
                component = Component(str(10000 + len(self.components)), key, name, component_lead)
                self.components[component.id] = component
            return project

    def leads(self) -> dict[str, str | None]:
        """Every project's and component's lead: ``ABC`` and ``ABC/Backend`` -> username."""
        with self.lock:
            found: dict[str, str | None] = {p.key: p.lead for p in self.projects.values()}
            found.update({f"{c.project}/{c.name}": c.lead for c in self.components.values()})
            return found

    def make_key(self, account_id: int, name: str) -> str:
        return f"JIRAUSER{10000 + account_id}"

    def grant_admin(self, name: str) -> None:
        self.add_member("jira-administrators", name)

    def is_admin(self, name: str) -> bool:
        return any(self.directory.group(g) and self.directory.is_member(g, name) for g in ADMIN_GROUPS)

    def roles_of(self, name: str) -> list[ApplicationRole]:
        return [
            role
            for role in self.application_roles.values()
            if any(self.directory.group(g) and self.directory.is_member(g, name) for g in role.groups)
        ]

    def set_seats(self, key: str, seats: int | None) -> None:
        """Limit the application ``key`` to ``seats`` users (None: unlimited)."""
        with self.lock:
            self.application_roles[key].seats = seats

    def role_users(self, role: ApplicationRole) -> set[str]:
        """The active accounts that take one of the role's seats: members of any of its groups."""
        return {fold(a.name) for g in role.groups if self.directory.group(g) for a in self.directory.members(g)
                if a.active}

    def full_role(self, name: str, roles: list[ApplicationRole]) -> ApplicationRole | None:
        """The first of ``roles`` whose seats are all taken and that ``name`` does not hold a seat of
        yet: giving ``name`` that application would exceed the licence (docs/products.md §2.14)."""
        for role in roles:
            if role.seats is None:
                continue
            users = self.role_users(role)
            if fold(name) not in users and len(users) >= role.seats:
                return role
        return None

    def roles_of_group(self, group: str) -> list[ApplicationRole]:
        return [r for r in self.application_roles.values() if any(fold(g) == fold(group) for g in r.groups)]

    def grant_application(self, role: ApplicationRole, name: str) -> None:
        if not any(self.directory.is_member(g, name) for g in role.groups if self.directory.group(g)):
            for group in role.default_groups:
                self.directory.add_member(self.add_group(group), name)

    def revoke_application(self, role: ApplicationRole, name: str) -> None:
        for group in role.groups:
            if self.directory.group(group):
                self.directory.remove_member(group, name)

    def extra_state(self) -> dict[str, Any]:
        return {"applicationRoles": [self.role_bean(role) for role in self.application_roles.values()],
                "leads": self.leads()}

    # -- answers -----------------------------------------------------------------------------------

    def error_response(
        self, status: int, message: str, *, fields: dict[str, str] | None = None, exception: str | None = None
    ) -> Response:
        # ErrorCollection (docs/products.md §2.12).
        return json_response({"errorMessages": [message] if message else [], "errors": fields or {}}, status)

    def bad_credentials_response(self) -> Response:
        return seraph_failure_response()

    def forbidden_response(self, caller: Caller) -> Response:
        return self.error_response(
            403, f"User '{caller.name}' does not have the Jira Administrators global permission this operation needs."
        )

    # -- JSON shapes -------------------------------------------------------------------------------

    def user_url(self, base: str, name: str) -> str:
        return f"{base}/rest/api/2/user?username={quote(name)}"

    def group_url(self, base: str, name: str) -> str:
        return f"{base}/rest/api/2/group?groupname={quote(name)}"

    @staticmethod
    def avatar_urls(base: str) -> dict[str, str]:
        sizes = {"48x48": "", "24x24": "size=small&", "16x16": "size=xsmall&", "32x32": "size=medium&"}
        return {size: f"{base}/secure/useravatar?{query}avatarId=10122" for size, query in sizes.items()}

    def user_json(self, base: str, account: Account) -> dict[str, Any]:
        """UserJsonBean: a user in a group's member page."""
        return {
            "self": self.user_url(base, account.name),
            "name": account.name,
            "key": account.key,
            "emailAddress": account.email,
            "avatarUrls": self.avatar_urls(base),
            "displayName": account.display_name,
            "active": account.active,
            "timeZone": "UTC",
        }

    def user_bean(self, base: str, account: Account, expand: frozenset[str] = frozenset()) -> dict[str, Any]:
        """UserBean; ``groups`` and ``applicationRoles`` list their items only when expanded."""
        groups = self.directory.groups_of(account.name)
        roles = self.roles_of(account.name)
        group_items = [{"name": g, "self": self.group_url(base, g)} for g in groups] if "groups" in expand else []
        role_items = [{"key": r.key, "name": r.name} for r in roles] if "applicationRoles" in expand else []
        return {
            **self.user_json(base, account),
            "locale": "en_US",
            "deleted": False,
            "groups": {"size": len(groups), "items": group_items},
            "applicationRoles": {"size": len(roles), "items": role_items},
            "expand": "groups,applicationRoles",
        }

    def group_bean(self, base: str, name: str) -> dict[str, Any]:
        size = self.directory.member_count(name)
        return {
            "name": name,
            "self": self.group_url(base, name),
            "users": {"size": size, "items": [], "max-results": 50, "start-index": 0, "end-index": 0},
            "expand": "users",
        }

    def project_bean(self, base: str, project: Project, expand: frozenset[str]) -> dict[str, Any]:
        bean: dict[str, Any] = {
            "self": f"{base}/rest/api/2/project/{project.id}",
            "id": str(project.id),
            "key": project.key,
            "name": project.name,
            "avatarUrls": self.avatar_urls(base),
            "archived": False,
            "expand": "description,lead,url,projectKeys",
        }
        if "lead" in expand:
            account = self.directory.user(project.lead)
            bean["lead"] = self.user_json(base, account) if account else {"name": project.lead, "active": False}
        return bean

    def component_bean(self, base: str, component: Component) -> dict[str, Any]:
        bean: dict[str, Any] = {
            "self": f"{base}/rest/api/2/component/{component.id}",
            "id": component.id,
            "name": component.name,
            "project": component.project,
            "assigneeType": "PROJECT_DEFAULT",
            "archived": False,
            "deleted": False,
        }
        account = self.directory.user(component.lead) if component.lead else None
        if component.lead:
            bean["leadUserName"] = component.lead
            bean["lead"] = self.user_json(base, account) if account else {"name": component.lead}
        return bean

    def role_bean(self, role: ApplicationRole) -> dict[str, Any]:
        users = self.role_users(role)
        limited = role.seats is not None
        return {
            "key": role.key,
            "name": role.name,
            "groups": role.groups,
            "defaultGroups": role.default_groups,
            "selectedByDefault": role.selected_by_default,
            "defined": True,
            "platform": role.key == "jira-core",
            "numberOfSeats": role.seats if limited else -1,
            "remainingSeats": max(role.seats - len(users), 0) if limited else -1,
            "userCount": len(users),
            "userCountDescription": f"{len(users)} users",
            "hasUnlimitedSeats": not limited,
        }

    def server_info(self, base: str) -> dict[str, Any]:
        numbers = [int(part) for part in self.version.split(".")]
        return {
            "baseUrl": base,
            "version": self.version,
            "versionNumbers": numbers,
            "deploymentType": "Server",
            "buildNumber": numbers[0] * 100000 + numbers[1] * 1000 + numbers[2] if len(numbers) > 2 else 0,
            "buildDate": "2025-01-01T00:00:00.000+0000",
            "serverTime": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "scmInfo": "fake",
            "serverTitle": "Jira",
        }
