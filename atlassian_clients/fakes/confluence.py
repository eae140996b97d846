"""Fake Confluence Data Center: state, JSON shapes and error answers (docs/products.md §3).

User names must be lower case (create refuses upper case), group names are kept lower case,
administrators are the members of ``confluence-administrators``, user keys are opaque hex ids,
and a user delete is a long task to poll (docs/products.md §3.7). The user JSON carries no e-mail (§3.3).
Spaces hold permissions granted to users (by key) and groups; from 9.1 they can be read (§3.14).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Response

from atlassian_clients.fakes.directory import Account
from atlassian_clients.fakes.product import Caller, FakeProduct
from atlassian_clients.fakes.rest import json_response, seraph_failure_response

ADMIN_GROUP = "confluence-administrators"
READ = {("space", "read")}
ADMINISTER = {("space", "read"), ("space", "administer")}
USERS_GROUP = "confluence-users"


@dataclass
class LongTask:
    id: str
    name_key: str
    subject: str
    submitted: float
    polls_left: int

    @property
    def done(self) -> bool:
        return self.polls_left <= 0


@dataclass
class Space:
    """A space and its permissions: (``"user"`` and a user key, or ``"group"`` and a name) ->
    the ``(targetType, operationKey)`` pairs granted (docs/products.md §3.14)."""

    key: str
    name: str
    type: str = "global"
    grants: dict[tuple[str, str], set[tuple[str, str]]] = field(default_factory=dict)

    @property
    def id(self) -> int:
        return 98300 + sum(map(ord, self.key))


class FakeConfluence(FakeProduct):
    name = "confluence"
    default_version = "9.2.3"
    rest_roots = ("/rest/api",)
    internal_directory = "Confluence Internal Directory"

    def __init__(self, **options: Any) -> None:
        self.long_tasks: dict[str, LongTask] = {}
        self._task_ids = itertools.count(1001)
        # Status reads a delete's long task answers "in progress" before it reports done.
        self.long_task_polls = 0
        # Users the licence allows; creating one more answers 402 (docs/products.md §3.4).
        self.licence_seats: int | None = None
        self.spaces: dict[str, Space] = {}  # by key
        super().__init__(**options)

    # -- instance ----------------------------------------------------------------------------------

    def seed_instance(self) -> None:
        self.add_group(ADMIN_GROUP)
        self.add_group(USERS_GROUP)

    def make_key(self, account_id: int, name: str) -> str:
        return f"8aa0807a{account_id:024x}"

    def add_user(self, name: str, *args: Any, **kwargs: Any) -> Account:
        if name != name.lower():
            raise ValueError(f"Confluence user names are lower case: {name!r}")
        return super().add_user(name, *args, **kwargs)

    def add_group(self, name: str) -> str:
        # Confluence keeps group names in lower case (docs/products.md §3.2).
        return super().add_group(name.lower())

    def grant_admin(self, name: str) -> None:
        self.add_member(ADMIN_GROUP, name)
        self.add_member(USERS_GROUP, name)

    def is_admin(self, name: str) -> bool:
        return self.directory.is_member(ADMIN_GROUP, name)

    def add_space(self, key: str, *, admins: tuple[str, ...] = (), admin_groups: tuple[str, ...] = (),
                  readers: tuple[str, ...] = (), kind: str = "global") -> Space:
        """A space whose ``admins`` (user names) and ``admin_groups`` may read and administer it,
        and ``readers`` (user names) read it."""
        with self.lock:
            space = Space(key, f"Space {key}", kind)
            for names, subject, operations in ((admins, "user", ADMINISTER), (readers, "user", READ),
                                               (admin_groups, "group", ADMINISTER)):
                for name in names:
                    who = self.directory.user(name).key if subject == "user" else name.lower()
                    space.grants.setdefault((subject, who), set()).update(operations)
            self.spaces[key] = space
            return space

    def space_admins(self) -> dict[str, list[str]]:
        """Every space's administrators, ``user:NAME`` or ``group:NAME`` (tests compare these)."""
        with self.lock:
            names = {a.key: a.name for a in self.directory.users()}
            return {key: sorted(f"{kind}:{names.get(who, who) if kind == 'user' else who}"
                                for (kind, who), granted in space.grants.items() if ("space", "administer") in granted)
                    for key, space in self.spaces.items()}

    def submit_long_task(self, name_key: str, subject: str) -> LongTask:
        task = LongTask(str(next(self._task_ids)), name_key, subject, time.time(), self.long_task_polls)
        self.long_tasks[task.id] = task
        return task

    def licence_full(self) -> bool:
        if self.licence_seats is None:
            return False
        return sum(1 for a in self.directory.users() if a.active) >= self.licence_seats

    def extra_state(self) -> dict[str, Any]:
        return {
            "longTasks": [
                {"id": t.id, "name": t.name_key, "subject": t.subject, "done": t.done} for t in self.long_tasks.values()
            ],
            "licenceSeats": self.licence_seats,
            "spaceAdmins": self.space_admins(),
        }

    # -- answers -----------------------------------------------------------------------------------

    def error_response(
        self, status: int, message: str, *, fields: dict[str, str] | None = None, exception: str | None = None
    ) -> Response:
        # RestError (docs/products.md §3.12); data.errors is a JSON list on the wire.
        errors = [
            {"message": {"key": field, "translation": text, "args": []}} for field, text in (fields or {}).items()
        ]
        body = {
            "statusCode": status,
            "data": {
                "authorized": status not in (401, 403),
                "valid": not errors,
                "errors": errors,
                "successful": False,
                "allowedInReadOnlyMode": True,
            },
            "message": message or "; ".join((fields or {}).values()),
            "reason": HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error",
        }
        return json_response(body, status)

    def bad_credentials_response(self) -> Response:
        return seraph_failure_response()

    def anonymous_response(self) -> Response:
        return self.error_response(401, "This resource requires an authenticated user.")

    def forbidden_response(self, caller: Caller) -> Response:
        return self.error_response(
            403, f"User '{caller.name}' does not have the Confluence Administrator permission this operation needs."
        )

    # -- JSON shapes -------------------------------------------------------------------------------

    @staticmethod
    def links(base: str, self_url: str) -> dict[str, str]:
        return {"base": base, "context": urlsplit(base).path, "self": self_url}

    def person(self, base: str, account: Account, expand: frozenset[str] = frozenset()) -> dict[str, Any]:
        """A known user. ``expand=status`` adds "active" / "deactivated" (value names inferred)."""
        person: dict[str, Any] = {
            "type": "known",
            "username": account.name,
            "userKey": account.key,
            "profilePicture": {
                "path": f"{urlsplit(base).path}/images/icons/profilepics/default.svg",
                "width": 48,
                "height": 48,
                "isDefault": True,
            },
            "displayName": account.display_name,
            "_links": self.links(base, f"{base}/rest/api/user?key={account.key}"),
            "_expandable": {"status": ""},
        }
        if "status" in expand:
            person["status"] = "active" if account.active else "deactivated"
            del person["_expandable"]["status"]
        return person

    @staticmethod
    def space_json(base: str, space: Space) -> dict[str, Any]:
        return {"id": space.id, "key": space.key, "name": space.name, "type": space.type,
                "status": "current", "_links": {"self": f"{base}/rest/api/space/{quote(space.key)}"}}

    @staticmethod
    def space_permissions(space: Space) -> list[dict[str, Any]]:
        """``GET /space/{key}/permissions``: one entry per operation granted; a user subject is named
        by its key only, a group by its name (docs/products.md §3.14)."""
        entries = []
        for (kind, who), granted in space.grants.items():
            subject = {"type": "user", "userKey": who} if kind == "user" else {"type": "group", "name": who}
            entries += [{"operation": {"targetType": target, "operationKey": operation}, "subject": subject,
                         "spaceKey": space.key, "spaceId": space.id}
                        for target, operation in sorted(granted)]
        return entries

    def group_json(self, base: str, name: str) -> dict[str, Any]:
        return {"type": "group", "name": name, "_links": self.links(base, f"{base}/rest/api/group/{quote(name)}")}

    def long_task_status(self, base: str, task: LongTask) -> dict[str, Any]:
        return {
            "id": task.id,
            "name": {"key": task.name_key, "args": []},
            "elapsedTime": int((time.time() - task.submitted) * 1000),
            "percentageComplete": 100 if task.done else 50,
            "successful": task.done,
            "finished": task.done,
            "messages": [],
            "_links": self.links(base, f"{base}/rest/api/longtask/{task.id}"),
        }

    def server_information(self, base: str) -> dict[str, Any]:
        numbers = [int(part) for part in self.version.split(".")]
        build = numbers[0] * 1000 + numbers[1] * 100 + (numbers[2] if len(numbers) > 2 else 0)
        return {
            "baseUrl": base,
            "version": self.version,
            "buildNumber": build,
            "marketplaceBuildNumber": build,
            "buildDate": "2025-01-01",
        }
