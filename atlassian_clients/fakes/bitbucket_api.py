"""The REST resources of the fake Bitbucket (under /rest/api/latest and /rest/api/1.0; docs/products.md §4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request

from atlassian_clients.fakes.bitbucket import PERMISSIONS, FakeBitbucket, rank
from atlassian_clients.fakes.directory import Account, fold, page
from atlassian_clients.fakes.rest import (
    Access,
    ExchangeLog,
    ProductApi,
    ProductError,
    base_url,
    bool_arg,
    caller,
    empty_response,
    int_arg,
    json_body,
    json_response,
)

NO_SUCH_USER = "com.atlassian.bitbucket.user.NoSuchUserException"
NO_SUCH_GROUP = "com.atlassian.bitbucket.user.NoSuchGroupException"
PAGE_LIMIT_MAX = 1000


def create_bitbucket_app(bitbucket: FakeBitbucket, recorder: ExchangeLog | None = None) -> Flask:
    api = ProductApi(bitbucket, recorder)
    directory = bitbucket.directory

    def user_named(name: str | None) -> Account:
        account = directory.user(name) if name else None
        if account is None:
            raise ProductError(404, f"User {name} does not exist.", exception=NO_SUCH_USER)
        return account

    def group_named(name: str | None) -> str:
        group = directory.group(name) if name else None
        if group is None:
            raise ProductError(404, f"Group {name} does not exist.", exception=NO_SUCH_GROUP)
        return group

    def required_args(*names: str) -> dict[str, str]:
        missing = {name: f"The {name} parameter is required." for name in names if not request.args.get(name)}
        if missing:
            raise ProductError(400, fields=missing)
        return {name: request.args[name] for name in names}

    def paged(items: list, render: Callable[[Any], dict]) -> Response:
        # Bitbucket's paging envelope (docs/products.md §4.12): start 0, limit 25 by default.
        start, limit = max(int_arg("start", 0), 0), min(max(int_arg("limit", 25), 1), PAGE_LIMIT_MAX)
        chunk, last = page(items, start, limit)
        body = {
            "size": len(chunk),
            "limit": limit,
            "isLastPage": last,
            "start": start,
            "values": [render(i) for i in chunk],
        }
        if not last:
            body["nextPageStart"] = start + len(chunk)
        return json_response(body)

    def group_members_matching(group: str) -> list[Account]:
        needle = request.args.get("filter", "")
        members = directory.members(group)
        if not needle:
            return members
        return directory.listing(
            ("bb-members", fold(group), fold(needle)), lambda: (a for a in members if a.matches(needle))
        )

    def filtered_groups(groups: list[str]) -> list[str]:
        needle = fold(request.args.get("filter", ""))
        return [g for g in groups if needle in fold(g)]

    def detailed(account: Account) -> dict:
        return bitbucket.detailed_user(base_url(), account, caller().name)

    def join(user: Account, groups: list[str]) -> None:
        if bitbucket.licence_would_overflow(user.name, groups):
            raise ProductError(403, "Adding the user to these groups would exceed the server's license limit.")
        for group in groups:
            directory.add_member(group, user.name)  # an existing membership is left as it is

    @api.route("/admin/license", "GET")
    def license_details() -> Response:
        # RestBitbucketLicense (docs/products.md §4.14); the fake's licence never expires.
        licensed = sum(1 for a in directory.users() if bitbucket.is_licensed(a.name))
        limit = bitbucket.licence_limit
        return json_response({
            "creationDate": 1735689600000,
            "purchaseDate": 1735689600000,
            "expiryDate": 4102444800000,
            "maximumNumberOfUsers": -1 if limit is None else limit,
            "unlimitedNumberOfUsers": limit is None,
            "serverId": "FAKE-SERVER-ID",
            "supportEntitlementNumber": "SEN-FAKE",
            "status": {"currentNumberOfUsers": licensed, "serverId": "FAKE-SERVER-ID"},
        })

    @api.route("/admin/users", "POST")
    def create_user() -> Response:
        # Query parameters only, 204 without a body (docs/products.md §4.4).
        args = required_args("name", "displayName", "emailAddress")
        notify = bool_arg("notify", False)
        password = request.args.get("password")
        if not notify and not password:
            raise ProductError(400, fields={"password": "A password is required unless notify is true."})
        if directory.user(args["name"]):
            raise ProductError(409, "Another user with the same name already exists.")
        default_groups = [bitbucket.default_group] if bool_arg("addToDefaultGroup", True) else []
        if bitbucket.licence_would_overflow(args["name"], default_groups):
            raise ProductError(403, "Adding the user to the default group would exceed the server's license limit.")
        directory.add_user(
            args["name"],
            args["displayName"],
            args["emailAddress"],
            password=password,
            directory=bitbucket.internal_directory,
        )
        for group in default_groups:
            directory.add_member(bitbucket.add_group(group), args["name"])
        return empty_response(204)

    @api.route("/admin/users", "GET", Access.USER)
    def list_users() -> Response:
        needle = request.args.get("filter", "")
        return paged(directory.search(needle) if needle else directory.users(), detailed)

    @api.route("/admin/users", "PUT")
    def update_user() -> Response:
        body = json_body()
        account = user_named(body.get("name"))
        if "email" in body and "@" not in str(body["email"] or ""):
            raise ProductError(400, fields={"email": "Please enter a valid e-mail address."})
        if not bitbucket.writable(account):
            raise ProductError(400, f"The user directory {account.directory} is read-only.")
        changes = {"display_name": body.get("displayName"), "email": body.get("email")}
        directory.update_user(account, **{field: value for field, value in changes.items() if value})
        return json_response(detailed(account))

    @api.route("/admin/users", "DELETE")
    def delete_user() -> Response:
        account = user_named(request.args.get("name"))
        if fold(account.name) == fold(caller().name):
            raise ProductError(409, "You cannot delete yourself.")
        if rank(bitbucket.permission_of(account.name)) > rank(bitbucket.permission_of(caller().name)):
            raise ProductError(403, "You cannot delete a user with a higher permission level than yours.")
        deleted = detailed(account)
        directory.remove_user(account)
        bitbucket.user_permissions.pop(fold(account.name), None)
        bitbucket.forget_user_grants(account.name)  # "also removes any permissions granted to the user"
        directory.touch()
        return json_response(deleted)

    @api.route("/admin/users/rename", "POST")
    def rename_user() -> Response:
        body = json_body()
        account, new_name = user_named(body.get("name")), str(body.get("newName") or "")
        if not new_name:
            raise ProductError(400, fields={"newName": "The new name is required."})
        if fold(new_name) != fold(account.name) and directory.user(new_name):
            raise ProductError(400, fields={"newName": "Another user with the same name already exists."})
        permission = bitbucket.user_permissions.pop(fold(account.name), None)
        directory.rename_user(account, new_name)
        if permission:
            bitbucket.user_permissions[fold(new_name)] = permission
        return json_response(detailed(account))

    @api.route("/admin/users/credentials", "PUT")
    def set_password() -> Response:
        body = json_body()
        account = user_named(body.get("name"))
        if not body.get("password") or body.get("password") != body.get("passwordConfirm"):
            raise ProductError(400, fields={"passwordConfirm": "The password and its confirmation do not match."})
        directory.update_user(account, password=body["password"])
        return empty_response(204)

    @api.route("/admin/users/add-groups", "POST")
    def add_user_to_groups() -> Response:
        body = json_body()
        user = user_named(body.get("user"))
        join(user, [group_named(g) for g in body.get("groups") or []])
        return empty_response(200)

    @api.route("/admin/groups/add-users", "POST")
    def add_users_to_group() -> Response:
        body = json_body()
        group = group_named(body.get("group"))
        for user in [user_named(name) for name in body.get("users") or []]:
            join(user, [group])
        return empty_response(200)

    def leave(user_name: str | None, group_name: str | None) -> Response:
        user, group = user_named(user_name), group_named(group_name)
        directory.remove_member(group, user.name)
        return empty_response(200)

    @api.route("/admin/users/remove-group", "POST")
    def remove_user_from_group() -> Response:
        body = json_body()
        return leave(body.get("context"), body.get("itemName"))

    @api.route("/admin/groups/remove-user", "POST")
    def remove_group_member() -> Response:
        body = json_body()
        return leave(body.get("itemName"), body.get("context"))

    @api.route("/admin/users/more-members", "GET", Access.USER)
    def groups_of_user() -> Response:
        # Despite its description this lists the groups of the user in "context" (docs/products.md §4.9).
        account = directory.user(request.args.get("context", ""))
        groups = filtered_groups(directory.groups_of(account.name)) if account else []
        return paged(groups, bitbucket.detailed_group)

    @api.route("/admin/groups", "GET", Access.USER)
    def list_groups() -> Response:
        return paged(filtered_groups(directory.groups()), bitbucket.detailed_group)

    @api.route("/admin/groups", "POST")
    def create_group() -> Response:
        name = required_args("name")["name"]
        if directory.group(name):
            raise ProductError(409, f"A group named {name} already exists.")
        return json_response(bitbucket.detailed_group(directory.add_group(name)))

    @api.route("/admin/groups", "DELETE")
    def delete_group() -> Response:
        group = group_named(request.args.get("name"))
        own = caller().name
        if rank(bitbucket.group_permissions.get(fold(group))) > rank(bitbucket.permission_of(own)):
            raise ProductError(403, "You cannot delete a group with a higher permission level than yours.")
        if bitbucket.is_admin(own) and directory.is_member(group, own):
            directory.remove_member(group, own)
            still_admin = bitbucket.is_admin(own)
            directory.add_member(group, own)
            if not still_admin:
                raise ProductError(409, "Deleting this group would lower your own permission level.")
        directory.remove_group(group)
        bitbucket.group_permissions.pop(fold(group), None)
        directory.touch()
        return json_response(bitbucket.detailed_group(group))

    @api.route("/admin/groups/more-members", "GET", Access.USER)
    def group_members() -> Response:
        group = directory.group(request.args.get("context", ""))
        members = group_members_matching(group) if group else []
        return paged(members, detailed)

    def permission_arg() -> str:
        permission = request.args.get("permission", "")
        if permission not in PERMISSIONS:
            raise ProductError(400, fields={"permission": f"The permission must be one of {', '.join(PERMISSIONS)}."})
        return permission

    @api.route("/admin/permissions/users", "PUT")
    def grant_user_permission() -> Response:
        permission = permission_arg()
        for account in [user_named(name) for name in request.args.getlist("name")] or [user_named(None)]:
            bitbucket.user_permissions[fold(account.name)] = permission
        directory.touch()
        return empty_response(204)

    @api.route("/admin/permissions/users", "DELETE")
    def revoke_user_permissions() -> Response:
        account = user_named(request.args.get("name"))
        if fold(account.name) == fold(caller().name):
            raise ProductError(409, "You cannot revoke your own permissions.")
        bitbucket.user_permissions.pop(fold(account.name), None)
        directory.touch()
        return empty_response(204)

    @api.route("/admin/permissions/users", "GET")
    def users_with_permission() -> Response:
        held = [(directory.user(name), p) for name, p in sorted(bitbucket.user_permissions.items())]
        needle = request.args.get("filter", "")
        held = [(a, p) for a, p in held if a is not None and (not needle or a.matches(needle))]
        return paged(
            held, lambda item: {"user": bitbucket.application_user(base_url(), item[0]), "permission": item[1]}
        )

    @api.route("/admin/permissions/groups", "PUT")
    def grant_group_permission() -> Response:
        permission = permission_arg()
        for group in [group_named(name) for name in request.args.getlist("name")] or [group_named(None)]:
            bitbucket.group_permissions[fold(group)] = permission
        directory.touch()
        return empty_response(204)

    @api.route("/admin/permissions/groups", "DELETE")
    def revoke_group_permissions() -> Response:
        group = group_named(request.args.get("name"))
        bitbucket.group_permissions.pop(fold(group), None)
        directory.touch()
        return empty_response(204)

    @api.route("/admin/permissions/groups", "GET")
    def groups_with_permission() -> Response:
        held = [(directory.group(g), p) for g, p in sorted(bitbucket.group_permissions.items())]
        held = [(g, p) for g, p in held if g is not None and fold(request.args.get("filter", "")) in fold(g)]
        return paged(held, lambda item: {"group": {"name": item[0]}, "permission": item[1]})

    # -- projects and repositories (docs/products.md §4.15) -----------------------------------------

    def project_json(key: str) -> dict:
        return {"key": key, "id": 100 + sorted(bitbucket.projects).index(key), "name": f"Project {key}",
                "public": False, "type": "NORMAL"}

    def granted(grants: dict, kind: str) -> Response:
        needle = fold(request.args.get("filter", ""))
        held = sorted((name, p) for (k, name), p in grants.items() if k == kind and needle in name)
        if kind == "group":
            return paged(held, lambda item: {"group": {"name": directory.group(item[0]) or item[0]},
                                             "permission": item[1]})
        held = [(directory.user(name), p) for name, p in held]
        return paged([(a, p) for a, p in held if a is not None],
                     lambda item: {"user": bitbucket.application_user(base_url(), item[0]), "permission": item[1]})

    def project_grants(key: str) -> dict:
        if key not in bitbucket.projects:
            raise ProductError(404, f"Project {key} does not exist.",
                               exception="com.atlassian.bitbucket.project.NoSuchProjectException")
        return bitbucket.projects[key]

    def repository_grants(key: str, slug: str) -> dict:
        project_grants(key)
        if (key, slug) not in bitbucket.repositories:
            raise ProductError(404, f"Repository {key}/{slug} does not exist.",
                               exception="com.atlassian.bitbucket.repository.NoSuchRepositoryException")
        return bitbucket.repositories[(key, slug)]

    # The caller is a global administrator here: it sees every project and repository.
    @api.route("/projects", "GET", Access.USER)
    def projects() -> Response:
        return paged(sorted(bitbucket.projects), project_json)

    @api.route("/repos", "GET", Access.USER)
    def repositories() -> Response:
        wanted = fold(request.args.get("projectkey", ""))
        found = sorted(r for r in bitbucket.repositories if not wanted or fold(r[0]) == wanted)
        return paged(found, lambda r: {"slug": r[1], "name": r[1], "scmId": "git", "state": "AVAILABLE",
                                       "project": project_json(r[0]), "public": False, "archived": False})

    for kind in ("user", "group"):
        api.route(f"/projects/<key>/permissions/{kind}s", "GET")(
            lambda key, kind=kind: granted(project_grants(key), kind))
        api.route(f"/projects/<key>/repos/<slug>/permissions/{kind}s", "GET")(
            lambda key, slug, kind=kind: granted(repository_grants(key, slug), kind))

    @api.route("/admin/user-directories", "GET")
    def user_directories() -> Response:
        return json_response(
            [
                {
                    "name": name,
                    "type": "INTERNAL" if name == bitbucket.internal_directory else "CONNECTOR",
                    "active": True,
                }
                for name in bitbucket.directories()
            ]
        )

    @api.route("/users/<user_slug>", "GET", Access.USER)
    def get_user(user_slug: str) -> Response:
        account = bitbucket.by_slug(user_slug)
        if account is None:
            raise ProductError(404, f"User {user_slug} does not exist.", exception=NO_SUCH_USER)
        return json_response(bitbucket.application_user(base_url(), account))

    @api.route("/application-properties", "GET", Access.ANONYMOUS)
    def application_properties() -> Response:
        return json_response(bitbucket.application_properties())

    return api.app
