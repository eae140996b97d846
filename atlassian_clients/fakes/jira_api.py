"""The REST resources of the fake Jira (paths under /rest/api/2; docs/products.md §2)."""

from __future__ import annotations

from urllib.parse import quote

from flask import Flask, Response, request

from atlassian_clients.fakes.directory import Account, fold, page
from atlassian_clients.fakes.jira import ApplicationRole, FakeJira, Project
from atlassian_clients.fakes.rest import (
    Access,
    ExchangeLog,
    ProductApi,
    ProductError,
    base_url,
    bool_arg,
    caller,
    empty_response,
    expand_arg,
    int_arg,
    json_body,
    json_response,
)

USERNAME_TAKEN = "A user with that username already exists."
GROUP_MISSING = "Specified group does not exist."


def create_jira_app(jira: FakeJira, recorder: ExchangeLog | None = None) -> Flask:
    api = ProductApi(jira, recorder)
    directory = jira.directory

    def target_user() -> Account:
        username, key = request.args.get("username"), request.args.get("key")
        account = directory.user_by_key(key) if key else directory.user(username) if username else None
        if account is None:
            raise ProductError(404, f"The user named '{username or key}' does not exist")
        return account

    def existing_group(name: str | None) -> str:
        if not name:
            raise ProductError(400, "You must specify a group name.")
        stored = directory.group(name)
        if stored is None:
            raise ProductError(404, GROUP_MISSING)
        return stored

    def seat_for(name: str, roles: list[ApplicationRole]) -> None:
        # Jira will not let an account take a seat of a full application (docs/products.md §2.14).
        full = jira.full_role(name, roles)
        if full is not None:
            jira.licence_refusals += 1
            raise ProductError(400, f"The user '{name}' cannot be given access to {full.name}: the licence's "
                                    f"user limit of {full.seats} has been reached.")

    def role(key: str | None) -> ApplicationRole:
        found = jira.application_roles.get(key or "")
        if found is None:
            raise ProductError(400, f"The application with key '{key}' does not exist.")
        return found

    @api.route("/user", "GET", Access.USER)
    def get_user() -> Response:
        return json_response(jira.user_bean(base_url(), target_user(), expand_arg()))

    @api.route("/user", "POST")
    def create_user() -> Response:
        body = json_body()
        name, email, display = (str(body.get(f) or "").strip() for f in ("name", "emailAddress", "displayName"))
        errors = {}
        if not name:
            errors["username"] = "You must specify a username."
        elif directory.user(name):
            errors["username"] = USERNAME_TAKEN
        if "@" not in email:
            errors["email"] = "You must specify a valid email address."
        if not display:
            errors["fullname"] = "You must specify a full name."
        keys = body.get("applicationKeys")
        if keys is None:  # absent: the applications selected by default (docs/products.md §2.5)
            roles = [r for r in jira.application_roles.values() if r.selected_by_default]
        else:
            roles = [role(key) for key in keys]
        if errors:
            raise ProductError(400, fields=errors)
        active = body.get("active", True) is not False
        if active:
            seat_for(name, roles)
        account = directory.add_user(
            name, display, email, password=body.get("password"), active=active, directory=jira.internal_directory
        )
        for granted in roles:
            jira.grant_application(granted, name)
        location = {"Location": jira.user_url(base_url(), name)}
        return json_response(jira.user_bean(base_url(), account), 201, location)

    @api.route("/user", "PUT")
    def update_user() -> Response:
        account, body = target_user(), json_body()
        if not jira.writable(account):
            raise ProductError(400, f"The user directory '{account.directory}' is read-only.")
        if "active" in body and not jira.version_at_least("8.3"):
            # Before 8.3 the active flag was not writable (JRASERVER-36639).
            raise ProductError(400, "error.no.value.found.to.be.changed")
        changes, errors = {}, {}
        if "emailAddress" in body:
            if "@" not in str(body["emailAddress"] or ""):
                errors["email"] = "You must specify a valid email address."
            changes["email"] = body["emailAddress"]
        if "displayName" in body:
            if not str(body["displayName"] or "").strip():
                errors["fullname"] = "You must specify a full name."
            changes["display_name"] = body["displayName"]
        if "active" in body:
            if body["active"] is False and fold(account.name) == fold(caller().name):
                errors["active"] = "You cannot deactivate your own account."
            changes["active"] = body["active"] is not False
            if changes["active"] and not account.active and not errors:
                seat_for(account.name, jira.roles_of(account.name))
        if "password" in body:
            changes["password"] = body["password"]
        new_name = body.get("name")
        if new_name and fold(new_name) != fold(account.name) and directory.user(new_name):
            errors["username"] = USERNAME_TAKEN
        if errors:
            raise ProductError(400, fields=errors)
        directory.update_user(account, **changes)
        if new_name and new_name != account.name:
            directory.rename_user(account, new_name)
        return json_response(jira.user_bean(base_url(), account))

    @api.route("/user", "DELETE")
    def delete_user() -> Response:
        account = target_user()
        if fold(account.name) == fold(caller().name):
            raise ProductError(400, "You cannot delete the currently logged in user.")
        if not jira.writable(account):
            raise ProductError(400, f"The user directory '{account.directory}' is read-only.")
        directory.remove_user(account)
        return empty_response(204)

    @api.route("/user/search", "GET", Access.USER)
    def search_users() -> Response:
        query = fold(request.args.get("username", "").strip())
        if not query:
            raise ProductError(400, "The username query parameter was not provided")
        active, inactive = bool_arg("includeActive", True), bool_arg("includeInactive", False)
        # Jira 10 returns at most 100 users whatever maxResults asks (JRASERVER-78660); Jira 9, 1000.
        cap = 100 if jira.version_at_least("10") else 1000
        # Every prefix match is a substring match: the substring index narrows, _starts decides.
        found = directory.listing(
            ("jira-search", query, active, inactive),
            lambda: (a for a in directory.search(query) if (active if a.active else inactive) and _starts(a, query)),
        )
        chunk, _ = page(found, int_arg("startAt", 0), min(int_arg("maxResults", 50), cap))
        return json_response([jira.user_bean(base_url(), a) for a in chunk])

    @api.route("/user/list", "GET", Access.USER)
    def list_users() -> Response:
        if not jira.version_at_least("10.3"):
            raise ProductError(404, f"null for uri: {request.url}")  # added in 10.3 LTS (docs/products.md §2.4)
        limit = max(min(int_arg("maxResults", 2000), 2000), 1)
        accounts, last = directory.users_after_id(int_arg("cursor", 0), limit)
        body = {
            "self": request.url,
            "maxResults": limit,
            "isLast": last,
            "values": [jira.user_bean(base_url(), a) for a in accounts],
        }
        if not last and accounts:
            cursor = accounts[-1].id
            body["nextCursor"] = str(cursor)
            body["nextPage"] = f"{base_url()}/rest/api/2/user/list?cursor={cursor}&maxResults={limit}"
        return json_response(body)

    def application_access() -> tuple[ApplicationRole, Account]:
        # The resource declares no 404: an unknown user is a 400 like any other bad argument.
        found, name = role(request.args.get("applicationKey")), request.args.get("username", "")
        account = directory.user(name)
        if account is None:
            raise ProductError(400, f"The user named '{name}' does not exist")
        return found, account

    @api.route("/user/application", "POST")
    def add_application() -> Response:
        granted, account = application_access()
        if account.active:
            seat_for(account.name, [granted])
        jira.grant_application(granted, account.name)
        return empty_response(200)

    @api.route("/user/application", "DELETE")
    def remove_application() -> Response:
        revoked, account = application_access()
        jira.revoke_application(revoked, account.name)
        return empty_response(204)

    @api.route("/group", "POST")
    def create_group() -> Response:
        name = str(json_body().get("name") or "").strip()
        if not name:
            raise ProductError(400, "You must specify a valid group name.")
        if directory.group(name) or directory.user(name):
            raise ProductError(400, "A group or user with this name already exists.")
        directory.add_group(name)
        return json_response(jira.group_bean(base_url(), name), 201)

    @api.route("/group", "DELETE")
    def delete_group() -> Response:
        group = existing_group(request.args.get("groupname"))
        swap = request.args.get("swapGroup")
        if swap and directory.group(swap) is None:
            raise ProductError(400, f"The swap group '{swap}' does not exist.")
        directory.remove_group(group)
        return empty_response(200)

    @api.route("/groups/picker", "GET", Access.USER)
    def pick_groups() -> Response:
        query = request.args.get("query", "")
        excluded = {fold(name) for name in request.args.getlist("exclude")}
        matching = [g for g in directory.groups() if fold(query) in fold(g) and fold(g) not in excluded]
        shown = matching[: max(int_arg("maxResults", 20), 0)]
        return json_response(
            {
                "header": f"Showing {len(shown)} of {len(matching)} matching groups",
                "total": len(matching),
                "groups": [{"name": g, "html": _highlight(g, query), "labels": []} for g in shown],
            }
        )

    @api.route("/group/member", "GET")
    def group_members() -> Response:
        group = existing_group(request.args.get("groupname"))
        inactive = bool_arg("includeInactiveUsers", False)
        members = directory.listing(
            ("jira-members", fold(group), inactive),
            lambda: (a for a in directory.members(group) if a.active or inactive),
        )
        start, limit = max(int_arg("startAt", 0), 0), max(min(int_arg("maxResults", 50), 50), 1)
        chunk, last = page(members, start, limit)
        body = {
            "self": request.url,
            "maxResults": limit,
            "startAt": start,
            "total": len(members),
            "isLast": last,
            "values": [jira.user_json(base_url(), a) for a in chunk],
        }
        if not last:
            body["nextPage"] = (
                f"{base_url()}/rest/api/2/group/member?groupname={quote(group)}&includeInactiveUsers={str(inactive).lower()}"
                f"&maxResults={limit}&startAt={start + limit}"
            )
        return json_response(body)

    @api.route("/group/user", "POST")
    def add_member() -> Response:
        group = existing_group(request.args.get("groupname"))
        name = str(json_body().get("name") or "")
        account = directory.user(name)
        if account is None:
            raise ProductError(404, f"Cannot add user. '{name}' does not exist")
        if account.active and not directory.is_member(group, account.name):
            seat_for(account.name, jira.roles_of_group(group))
        if not directory.add_member(group, account.name):
            # Jira refuses an existing membership (docs/products.md §2.10, §1.9).
            raise ProductError(400, f"Cannot add user '{account.name}', user is already a member of '{group}'")
        return json_response(jira.group_bean(base_url(), group), 201)

    @api.route("/group/user", "DELETE")
    def remove_member() -> Response:
        group = existing_group(request.args.get("groupname"))
        name = request.args.get("username", "")
        account = directory.user(name)
        if account is None:
            raise ProductError(404, f"User '{name}' does not exist")
        if not directory.remove_member(group, account.name):
            raise ProductError(
                400, f"Cannot remove user '{account.name}' from group '{group}' since user is not a member of '{group}'"
            )
        return empty_response(200)

    @api.route("/applicationrole", "GET")
    def application_roles() -> Response:
        return json_response([jira.role_bean(r) for r in jira.application_roles.values()])

    @api.route("/applicationrole/<key>", "GET")
    def application_role(key: str) -> Response:
        found = jira.application_roles.get(key)
        if found is None:
            raise ProductError(404, f"The application role with key '{key}' does not exist.")
        return json_response(jira.role_bean(found))

    # -- project and component leads (docs/products.md §2.13) ------------------------------------------

    def project(key: str) -> Project:
        found = jira.projects.get(key) or next((p for p in jira.projects.values() if str(p.id) == key), None)
        if found is None:
            raise ProductError(404, f"No project could be found with key '{key}'.")
        return found

    def lead_named(name: object, field: str) -> str:
        account = directory.user(str(name)) if isinstance(name, str) and name else None
        if account is None:
            raise ProductError(400, fields={field: f"The user '{name}' does not exist."})
        if not account.active:
            raise ProductError(400, fields={field: f"The user '{name}' is not active and cannot be a lead."})
        return account.name

    @api.route("/project", "GET", Access.USER)
    def list_projects() -> Response:
        expand = expand_arg()
        return json_response([jira.project_bean(base_url(), p, expand) for p in jira.projects.values()])

    @api.route("/project/<key>/components", "GET", Access.USER)
    def project_components(key: str) -> Response:
        found = project(key)
        return json_response([jira.component_bean(base_url(), c) for c in jira.components.values()
                              if c.project == found.key])

    @api.route("/project/<key>", "PUT")
    def update_project(key: str) -> Response:
        found, body = project(key), json_body()
        if "lead" in body:
            found.lead = lead_named(body["lead"], "projectLead")
        return json_response(jira.project_bean(base_url(), found, frozenset({"lead"})))

    @api.route("/component/<component_id>", "PUT")
    def update_component(component_id: str) -> Response:
        found, body = jira.components.get(component_id), json_body()
        if found is None:
            raise ProductError(404, f"The component with id {component_id} does not exist.")
        if "leadUserName" in body:
            found.lead = lead_named(body["leadUserName"], "leadUserName")
        return json_response(jira.component_bean(base_url(), found))

    @api.route("/serverInfo", "GET", Access.ANONYMOUS)
    def server_info() -> Response:
        return json_response(jira.server_info(base_url()))

    @api.route("/myself", "GET", Access.USER)
    def myself() -> Response:
        return json_response(jira.user_bean(base_url(), directory.user(caller().name), expand_arg()))

    return api.app


def _starts(account: Account, query: str) -> bool:
    # Jira's user search matches the start of the username, the e-mail or a word of the name.
    words = (fold(account.name), fold(account.email), *fold(account.display_name).split())
    return any(word.startswith(query) for word in words)


def _highlight(name: str, query: str) -> str:
    at = fold(name).find(fold(query)) if query else -1
    if at < 0:
        return name
    return f"{name[:at]}<b>{name[at : at + len(query)]}</b>{name[at + len(query) :]}"
