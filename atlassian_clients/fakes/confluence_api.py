"""The REST resources of the fake Confluence (paths under /rest/api; docs/products.md §3)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request

from atlassian_clients.fakes.confluence import ADMIN_GROUP, FakeConfluence
from atlassian_clients.fakes.directory import Account, page
from atlassian_clients.fakes.rest import (
    Access,
    ExchangeLog,
    ProductApi,
    ProductError,
    base_url,
    caller,
    empty_response,
    expand_arg,
    int_arg,
    json_body,
    json_response,
)

FORBIDDEN_NAME_CHARACTERS = set("\\,+<>'\"")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _user_name_problem(name: str) -> str | None:
    # The rules POST /admin/user documents (docs/products.md §3.2).
    if not name.strip():
        return "The userName should not be null or blank"
    if FORBIDDEN_NAME_CHARACTERS & set(name):
        return "The userName should not contain any of these characters \\ , + < > ' \""
    if any(c.isspace() for c in name):
        return "The userName should not contain any whitespace characters"
    if name == "anonymous":
        return 'The userName should not be "anonymous"'
    if name != name.lower():
        return "The userName should not contain any upper case characters"
    return None


def _profile_problems(body: dict, *, creating: bool) -> dict[str, str]:
    problems = {}
    if creating or "fullName" in body:
        full_name = str(body.get("fullName") or "")
        if not full_name.strip() or "<" in full_name or ">" in full_name or full_name.lower() == "anonymous":
            problems["fullName"] = "The fullName should not be blank, anonymous, or contain < or >"
    if (creating or "email" in body) and not EMAIL.match(str(body.get("email") or "")):
        problems["email"] = "The email should be a valid email address"
    return problems


def create_confluence_app(confluence: FakeConfluence, recorder: ExchangeLog | None = None) -> Flask:
    api = ProductApi(confluence, recorder)
    directory = confluence.directory

    def require_version(minimum: str) -> None:
        if not confluence.version_at_least(minimum):
            raise ProductError(404, f"null for uri: {request.url}")

    def named_user(name: str) -> Account:
        account = directory.user(name)
        if account is None:
            raise ProductError(404, f"No user found with username: {name}")
        return account

    def queried_user() -> Account:
        username, key = request.args.get("username"), request.args.get("key")
        account = directory.user_by_key(key) if key else directory.user(username) if username else None
        if account is None:
            raise ProductError(404, f"No user found with {'key' if key else 'username'}: {key or username}")
        return account

    def named_group(name: str) -> str:
        stored = directory.group(name)
        if stored is None:
            raise ProductError(404, f"No group found with name: {name}")
        return stored

    def results(items: list, render: Callable[[Any], dict], default_limit: int) -> Response:
        start, limit = max(int_arg("start", 0), 0), max(int_arg("limit", default_limit), 0)
        chunk, last = page(items, start, limit)
        links = confluence.links(base_url(), request.url)
        if not last:
            links["next"] = f"{request.path}?limit={limit}&start={start + limit}"
        body = {"results": [render(item) for item in chunk], "start": start, "limit": limit, "size": len(chunk)}
        return json_response({**body, "totalCount": len(items), "_links": links})

    @api.route("/admin/user", "POST")
    def create_user() -> Response:
        require_version("8.4")
        body = json_body()
        name = str(body.get("userName") or "")
        problem = _user_name_problem(name)
        if problem:
            raise ProductError(400, problem)
        problems = _profile_problems(body, creating=True)
        notify, password = body.get("notifyViaEmail") is True, body.get("password")
        if notify and password is not None:
            problems["password"] = "If notifyViaEmail is true then the password should not be specified"
        if not notify and not str(password or "").strip():
            problems["password"] = "If notifyViaEmail is false then the password should not be null or blank"
        if problems:
            raise ProductError(400, fields=problems)
        if directory.user(name):
            raise ProductError(409, f"A user with the userName '{name}' already exists")
        if confluence.licence_full():
            raise ProductError(402, "No more licences are available to create a user")
        account = directory.add_user(
            name, body["fullName"], body["email"], password=password, directory=confluence.internal_directory
        )
        return json_response({"userKey": account.key}, 201)

    @api.route("/admin/user/<username>", "PUT")
    def update_user(username: str) -> Response:
        account, body = named_user(username), json_body()
        problems = _profile_problems(body, creating=False)
        if problems:
            raise ProductError(400, fields=problems)
        if not confluence.writable(account):
            raise ProductError(400, f"The user directory '{account.directory}' is read-only")
        changes = {"display_name": body.get("fullName"), "email": body.get("email")}
        directory.update_user(account, **{field: value for field, value in changes.items() if value is not None})
        return empty_response(204)

    def set_active(username: str, active: bool) -> Response:
        require_version("8.2")
        account = named_user(username)
        if not active and account.name == caller().name:
            raise ProductError(403, "You cannot disable your own account")
        directory.update_user(account, active=active)  # idempotent (docs/products.md §3.6)
        return empty_response(204)

    api.route("/admin/user/<username>/disable", "PUT")(lambda username: set_active(username, False))
    api.route("/admin/user/<username>/enable", "PUT")(lambda username: set_active(username, True))

    @api.route("/admin/user/<username>", "DELETE")
    def delete_user(username: str) -> Response:
        require_version("8.2")
        account = named_user(username)
        if account.name == caller().name:
            raise ProductError(403, "You cannot delete your own account")
        directory.remove_user(account)
        # 202 with a long task to poll (docs/products.md §3.7). The status link is the
        # /longtask/{id} resource the document defines.
        task = confluence.submit_long_task("com.atlassian.confluence.user.delete", account.name)
        status_url = f"{base_url()}/rest/api/longtask/{task.id}"
        submission = {"id": task.id, "links": {"status": status_url}, "statusPath": f"/rest/api/longtask/{task.id}"}
        return json_response(submission, 202, {"Location": status_url})

    @api.route("/longtask/<task_id>", "GET", Access.USER)
    def long_task(task_id: str) -> Response:
        task = confluence.long_tasks.get(task_id)
        if task is None:
            raise ProductError(404, f"No long task found with id: {task_id}")
        status = confluence.long_task_status(base_url(), task)
        task.polls_left -= 1
        return json_response(status)

    @api.route("/longtask", "GET", Access.USER)
    def long_tasks() -> Response:
        tasks = list(confluence.long_tasks.values())
        return results(tasks, lambda task: confluence.long_task_status(base_url(), task), 100)

    @api.route("/user", "GET", Access.USER)
    def get_user() -> Response:
        return json_response(confluence.person(base_url(), queried_user(), expand_arg()))

    @api.route("/user/current", "GET", Access.USER)
    def current_user() -> Response:
        return json_response(confluence.person(base_url(), named_user(caller().name), expand_arg()))

    @api.route("/user/list", "GET", Access.USER)
    def list_users() -> Response:
        require_version("8.4")
        expand = expand_arg()
        return results(directory.users(), lambda a: confluence.person(base_url(), a, expand), 100)

    @api.route("/admin/users/list/active", "GET")
    def list_active_users() -> Response:
        active, expand = directory.listing("active", lambda: (a for a in directory.users() if a.active)), expand_arg()
        return results(active, lambda a: {**confluence.person(base_url(), a, expand), "email": a.email}, 100)

    @api.route("/user/memberof", "GET", Access.USER)
    def groups_of_user() -> Response:
        account = queried_user()
        return results(directory.groups_of(account.name), lambda g: confluence.group_json(base_url(), g), 200)

    @api.route("/admin/group", "POST")
    def create_group() -> Response:
        name = str(json_body().get("name") or "").strip()
        if not name:
            raise ProductError(400, "The group name should not be null or blank")
        if directory.group(name):
            raise ProductError(409, f"A group with the name '{name.lower()}' already exists")
        return json_response(confluence.group_json(base_url(), confluence.add_group(name)))

    @api.route("/admin/group/<group_name>", "DELETE")
    def delete_group(group_name: str) -> Response:
        group = named_group(group_name)
        if group == ADMIN_GROUP:
            raise ProductError(400, "You cannot delete the last administrators group")
        directory.remove_group(group)
        return empty_response(204)

    @api.route("/group", "GET", Access.USER)
    def list_groups() -> Response:
        return results(directory.groups(), lambda g: confluence.group_json(base_url(), g), 200)

    @api.route("/group/<group_name>", "GET", Access.USER)
    def get_group(group_name: str) -> Response:
        return json_response(confluence.group_json(base_url(), named_group(group_name)))

    @api.route("/group/<group_name>/member", "GET")
    def group_members(group_name: str) -> Response:
        group, expand = named_group(group_name), expand_arg()
        return results(directory.members(group), lambda a: confluence.person(base_url(), a, expand), 200)

    def membership(username: str, group_name: str) -> tuple[str, str]:
        return named_user(username).name, named_group(group_name)

    @api.route("/user/<username>/group/<group_name>", "PUT")
    def add_member(username: str, group_name: str) -> Response:
        user, group = membership(username, group_name)
        directory.add_member(group, user)  # idempotent (docs/products.md §3.9, §1.9)
        return empty_response(204)

    @api.route("/user/<username>/group/<group_name>", "DELETE")
    def remove_member(username: str, group_name: str) -> Response:
        user, group = membership(username, group_name)
        directory.remove_member(group, user)  # idempotent
        return empty_response(204)

    @api.route("/space", "GET", Access.USER)
    def list_spaces() -> Response:
        kind = request.args.get("type")
        spaces = [s for s in confluence.spaces.values() if kind in (None, s.type)]
        return results(spaces, lambda space: confluence.space_json(base_url(), space), 25)

    @api.route("/space/<space_key>/permissions", "GET")
    def space_permissions(space_key: str) -> Response:
        # The space permissions resources arrived in 9.1 (docs/products.md §3.14).
        require_version("9.1")
        space = confluence.spaces.get(space_key)
        if space is None:
            raise ProductError(404, f"No space found with key : {space_key}")
        return json_response(confluence.space_permissions(space))

    @api.route("/server-information", "GET", Access.USER)
    def server_information() -> Response:
        return json_response(confluence.server_information(base_url()))

    return api.app
