"""Named repairs of the defects in Atlassian's generated OpenAPI documents, and in Crowd's community one.

The documents in ../shared/reference/atlassian-openapi are generated from the products' Java
resources and carry known defects (their README and docs/products.md §1.12 list them). Each
function below repairs one defect of one operation, named by path and method, and says why; none
of them loosens validation in general. Where docs/products.md and a document disagree, docs/products.md
wins, because it records what the products answer on the wire.
"""

import copy
from collections.abc import Callable

Document = dict
Repair = Callable[[Document], None]

# The user, group, membership, licence and version resources an admin-sync client uses
# (docs/products.md §2-§5). Keeping only these makes a call outside the reference set fail
# loudly, and lets the repaired subset pass the full OpenAPI spec validator (the untouched
# documents do not: duplicate operationIds and unresolvable path parameters elsewhere).
ADMIN_SYNC_PATHS = {
    "jira": (
        "/api/2/user",
        "/api/2/user/search",
        "/api/2/user/list",
        "/api/2/user/password",
        "/api/2/user/application",
        "/api/2/group",
        "/api/2/groups/picker",
        "/api/2/group/member",
        "/api/2/group/user",
        "/api/2/applicationrole",
        "/api/2/applicationrole/{key}",
        "/api/2/serverInfo",
        "/api/2/myself",
        # project and component leads, handed over before a leaver goes (docs/products.md §2.13)
        "/api/2/project",
        "/api/2/project/{projectIdOrKey}",
        "/api/2/project/{projectIdOrKey}/components",
        "/api/2/component/{id}",
    ),
    "confluence": (
        "/rest/api/admin/user",
        "/rest/api/admin/user/{username}",
        "/rest/api/admin/user/{username}/disable",
        "/rest/api/admin/user/{username}/enable",
        "/rest/api/admin/user/{username}/password",
        "/rest/api/admin/users/list/active",
        "/rest/api/admin/group",
        "/rest/api/admin/group/{groupName}",
        "/rest/api/user",
        "/rest/api/user/list",
        "/rest/api/user/current",
        "/rest/api/user/memberof",
        "/rest/api/user/{username}/group/{groupName}",
        "/rest/api/group",
        "/rest/api/group/{groupName}",
        "/rest/api/group/{groupName}/member",
        "/rest/api/longtask",
        "/rest/api/longtask/{id}",
        "/rest/api/server-information",
        # space administrators, reported for a leaver (docs/products.md §3.14)
        "/rest/api/space",
        "/rest/api/space/{spaceKey}/permissions",
    ),
    "bitbucket": (
        "/api/latest/admin/users",
        "/api/latest/admin/users/rename",
        "/api/latest/admin/users/credentials",
        "/api/latest/admin/users/add-groups",
        "/api/latest/admin/users/remove-group",
        "/api/latest/admin/users/more-members",
        "/api/latest/admin/groups",
        "/api/latest/admin/groups/add-users",
        "/api/latest/admin/groups/remove-user",
        "/api/latest/admin/groups/more-members",
        "/api/latest/admin/permissions/users",
        "/api/latest/admin/permissions/groups",
        "/api/latest/admin/user-directories",
        "/api/latest/admin/license",  # its user limit and the users counted (docs/products.md §4.14)
        "/api/latest/users/{userSlug}",
        "/api/latest/application-properties",
        # project and repository administrators, reported for a leaver (docs/products.md §4.15)
        "/api/latest/projects",
        "/api/latest/repos",
        "/api/latest/projects/{projectKey}/permissions/users",
        "/api/latest/projects/{projectKey}/permissions/groups",
        "/api/latest/projects/{projectKey}/repos/{repositorySlug}/permissions/users",
        "/api/latest/projects/{projectKey}/repos/{repositorySlug}/permissions/groups",
    ),
    "crowd": (
        "/user",
        "/user/rename",
        "/user/group/direct",
        "/group",
        "/group/user/direct",
        "/search",
    ),
}

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _operation(doc: Document, path: str, method: str) -> dict:
    return doc["paths"][path][method]


def _schema_ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: dict, media_type: str = "application/json") -> dict:
    return {media_type: {"schema": schema}}


def keep_admin_sync_paths(product: str) -> Repair:
    def repair(doc: Document) -> None:
        doc["paths"] = {path: doc["paths"][path] for path in ADMIN_SYNC_PATHS[product]}

    return repair


def accept_personal_access_tokens(doc: Document) -> None:
    # Every operation declares only HTTP basic, but all three products accept a personal access
    # token as "Authorization: Bearer" (Jira 8.14+, Confluence 7.9+, Bitbucket 5.5+;
    # docs/products.md §1.2). Added as an alternative requirement, so a request without credentials still fails.
    doc["components"]["securitySchemes"]["bearer"] = {"type": "http", "scheme": "bearer"}
    for methods in doc["paths"].values():
        for method, operation in methods.items():
            if method in HTTP_METHODS and {"basic": []} in operation.get("security", []):
                operation["security"] = [{"basic": []}, {"bearer": []}]


# --- Jira -------------------------------------------------------------------------------------


def jira_array_responses(doc: Document) -> None:
    # README defect "some array responses are declared as a single item": user search, the
    # application role list, the project list and a project's components answer a JSON array of
    # the declared bean.
    # So do the project list and a project's components (docs/products.md §2.13).
    for path, bean in (("/api/2/user/search", "UserBean"), ("/api/2/applicationrole", "ApplicationRoleBean"),
                       ("/api/2/project", "ProjectBean"), ("/api/2/project/{projectIdOrKey}/components",
                                                           "ComponentBean")):
        content = _operation(doc, path, "get")["responses"]["200"]["content"]
        content["application/json"]["schema"] = {"type": "array", "items": _schema_ref(bean)}


def jira_group_member_page(doc: Document) -> None:
    # GET /group/member answers a page of users (values, isLast, startAt, maxResults, total,
    # nextPage; docs/products.md §2.10), not the single UserJsonBean the document declares, and
    # takes groupname as a query parameter, not the path parameter the document declares.
    operation = _operation(doc, "/api/2/group/member", "get")
    page = copy.deepcopy(doc["components"]["schemas"]["PageBean"])
    page["properties"]["values"] = {"type": "array", "items": _schema_ref("UserJsonBean")}
    operation["responses"]["200"]["content"]["application/json"]["schema"] = page
    for parameter in operation["parameters"]:
        if parameter["name"] == "groupname":
            parameter["in"] = "query"


JIRA_REPAIRS: tuple[Repair, ...] = (
    keep_admin_sync_paths("jira"),
    accept_personal_access_tokens,
    jira_array_responses,
    jira_group_member_page,
)


# --- Confluence -------------------------------------------------------------------------------


def confluence_duplicate_parameters(doc: Document) -> None:
    # README defect "many parameters appear twice": the first copy is always an untyped string,
    # the second the typed one (integer start/limit, defaults). Keep the last copy of each
    # (name, location) pair.
    for methods in doc["paths"].values():
        for method, operation in methods.items():
            if method in HTTP_METHODS and "parameters" in operation:
                last = {(p["name"], p["in"]): p for p in operation["parameters"]}
                operation["parameters"] = list(last.values())


def confluence_group_member_path_schema(doc: Document) -> None:
    # GET /group/{groupName}/member declares the path parameter's schema as the Group object;
    # a path segment is the group's name, a string.
    for parameter in _operation(doc, "/rest/api/group/{groupName}/member", "get")["parameters"]:
        if parameter["name"] == "groupName":
            parameter["schema"] = {"type": "string"}


def confluence_memberof_lists_groups(doc: Document) -> None:
    # GET /user/memberof is "a paginated collection of groups that the given user is a member
    # of" (its own description, docs/products.md §3.9) but its page declares Person items.
    content = _operation(doc, "/rest/api/user/memberof", "get")["responses"]["200"]["content"]
    content["application/json"]["schema"]["properties"]["results"]["items"] = _schema_ref("Group")


def confluence_validation_errors_list(doc: Document) -> None:
    # RestError.data.errors is declared an object; Confluence serialises its list of validation
    # errors as a JSON array ("errors": [] in every RestError it sends).
    doc["components"]["schemas"]["ValidationResult"]["properties"]["errors"] = {
        "type": "array",
        "items": {"type": "object"},
    }


# Statuses Confluence's REST exception mappers answer on these operations (anonymous caller 401,
# caller without the admin permission 403, unknown user or group 404) that the generated document
# leaves out because the Java method does not declare them.
CONFLUENCE_UNDECLARED_ERRORS = {
    ("/rest/api/user", "get"): ("401",),
    ("/rest/api/user/memberof", "get"): ("401", "404"),
    ("/rest/api/user/list", "get"): ("401",),
    ("/rest/api/user/current", "get"): ("401",),
    ("/rest/api/group", "get"): ("401",),
    ("/rest/api/group/{groupName}", "get"): ("401", "404"),
    ("/rest/api/group/{groupName}/member", "get"): ("401", "404"),
    ("/rest/api/user/{username}/group/{groupName}", "put"): ("401", "403", "404"),
    ("/rest/api/user/{username}/group/{groupName}", "delete"): ("401", "403", "404"),
    ("/rest/api/admin/user/{username}", "put"): ("404",),
    ("/rest/api/admin/group", "post"): ("401",),
    ("/rest/api/admin/group/{groupName}", "delete"): ("401",),
    ("/rest/api/longtask/{id}", "get"): ("401",),
    ("/rest/api/space/{spaceKey}/permissions", "get"): ("404",),  # no such space (or before 9.1)
}


def confluence_undeclared_errors(doc: Document) -> None:
    for (path, method), statuses in CONFLUENCE_UNDECLARED_ERRORS.items():
        responses = _operation(doc, path, method)["responses"]
        for status in statuses:
            responses.setdefault(status, {"description": "RestError", "content": _json_body(_schema_ref("RestError"))})


def confluence_bodyless_update(doc: Document) -> None:
    # PUT /admin/user/{username} answers 204 No Content; the document gives that 204 a UserKey body.
    del _operation(doc, "/rest/api/admin/user/{username}", "put")["responses"]["204"]["content"]


CONFLUENCE_REPAIRS: tuple[Repair, ...] = (
    keep_admin_sync_paths("confluence"),
    accept_personal_access_tokens,
    confluence_duplicate_parameters,
    confluence_group_member_path_schema,
    confluence_memberof_lists_groups,
    confluence_validation_errors_list,
    confluence_undeclared_errors,
    confluence_bodyless_update,
)


# --- Bitbucket --------------------------------------------------------------------------------


def bitbucket_plain_json_media_type(doc: Document) -> None:
    # Success bodies are keyed "application/json;charset=UTF-8". openapi-core matches a key that
    # carries parameters only by its exact spelling, so an answer sent as
    # "application/json; charset=utf-8" (the same media type, RFC 9110 §8.3.1: charset is
    # case-insensitive) would find no schema. Keyed by the bare media type instead.
    for methods in doc["paths"].values():
        for method, operation in methods.items():
            if method not in HTTP_METHODS:
                continue
            for response in operation["responses"].values():
                content = response.get("content", {})
                if "application/json;charset=UTF-8" in content:
                    content["application/json"] = content.pop("application/json;charset=UTF-8")


def bitbucket_error_context_nullable(doc: Document) -> None:
    # RestErrorMessage.context is declared a plain string, but an error that concerns no single
    # field carries "context": null (docs/products.md §4.13).
    doc["components"]["schemas"]["RestErrorMessage"]["properties"]["context"]["nullable"] = True


def bitbucket_user_links_readable(doc: Document) -> None:
    # The user schemas mark "links" write-only, yet every user Bitbucket answers carries
    # "links": {"self": [{"href": ...}]} (the same links as on every Bitbucket entity).
    for schema in ("RestApplicationUser", "RestDetailedUser"):
        del doc["components"]["schemas"][schema]["properties"]["links"]["writeOnly"]
    # The same user, inline in a project's or repository's permitted users (docs/products.md §4.15).
    del doc["components"]["schemas"]["RestPermittedUser"]["properties"]["user"]["properties"]["links"]["writeOnly"]


def bitbucket_groups_for_user(doc: Document) -> None:
    # README defect: GET /admin/users/more-members (operationId findGroupsForUser) is described as
    # "users that are not members", but it is called with context=<username> and answers a page of
    # that user's groups (docs/products.md §4.9); its page declares RestDetailedUser items.
    content = _operation(doc, "/api/latest/admin/users/more-members", "get")["responses"]["200"]["content"]
    content["application/json"]["schema"]["properties"]["values"]["items"] = _schema_ref("RestDetailedGroup")


def bitbucket_directories_list(doc: Document) -> None:
    # GET /admin/user-directories is "a list of directories" (its own description and
    # docs/products.md §4.11) but declares a single RestUserDirectory.
    content = _operation(doc, "/api/latest/admin/user-directories", "get")["responses"]["200"]["content"]
    content["application/json"]["schema"] = {"type": "array", "items": _schema_ref("RestUserDirectory")}


BITBUCKET_BODYLESS_MEMBERSHIP_CALLS = (
    "/api/latest/admin/users/add-groups",
    "/api/latest/admin/users/remove-group",
    "/api/latest/admin/groups/add-users",
    "/api/latest/admin/groups/remove-user",
)


def bitbucket_bodyless_membership_calls(doc: Document) -> None:
    # The membership calls answer 200 with an empty body; the document declares a JSON media type
    # without a schema for it (the resource's @Produces), which would demand a body.
    for path in BITBUCKET_BODYLESS_MEMBERSHIP_CALLS:
        del _operation(doc, path, "post")["responses"]["200"]["content"]


BITBUCKET_REPAIRS: tuple[Repair, ...] = (
    keep_admin_sync_paths("bitbucket"),
    accept_personal_access_tokens,
    bitbucket_plain_json_media_type,
    bitbucket_error_context_nullable,
    bitbucket_user_links_readable,
    bitbucket_groups_for_user,
    bitbucket_directories_list,
    bitbucket_bodyless_membership_calls,
)

# --- Crowd -------------------------------------------------------------------------------------
# The community description (converted from Swagger 2.0 by tests/support/swagger2.py) is partial
# (docs/products.md §5.13); these add what it leaves out, from the facts in docs/products.md §5.


def _crowd_query(name: str, kind: str = "string", *, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": {"type": kind}}


CROWD_PAGING = (_crowd_query("start-index", "integer"), _crowd_query("max-results", "integer"), _crowd_query("expand"))


def crowd_direct_membership_reads(doc: Document) -> None:
    # The description has the nested-membership reads only; their direct twins answer the same
    # lists and are what a client that changes direct memberships reads (docs/products.md §5.10).
    for path, nested, key in (("/group/user/direct", "/group/user/nested", "groupname"),
                              ("/user/group/direct", "/user/group/nested", "username")):
        operation = copy.deepcopy(_operation(doc, nested, "get"))
        operation["operationId"] = operation["operationId"].replace("Nested", "Direct")
        operation["parameters"] = [_crowd_query(key, required=True), *copy.deepcopy(CROWD_PAGING)]
        # An unknown user or group answers an empty list (CWD-4470), not the 404 the twins declare.
        operation["responses"].pop("404", None)
        doc["paths"].setdefault(path, {})["get"] = operation


def crowd_search_paging(doc: Document) -> None:
    # GET /search pages with start-index and max-results and expands entities with expand
    # (docs/products.md §5.4); the description declares neither.
    _operation(doc, "/search", "get")["parameters"] += copy.deepcopy(list(CROWD_PAGING))


# Answers docs/products.md §5 names that the description leaves out: an application without the
# permission (403), an unknown user to rename (404), a restriction Crowd cannot read (400).
CROWD_UNDECLARED_ERRORS = {
    ("/user/rename", "post"): ("404",),
    ("/group", "delete"): ("403",),
    ("/group/user/direct", "post"): ("403",),
    ("/group/user/direct", "delete"): ("403",),
    ("/search", "get"): ("400",),
}


def crowd_undeclared_errors(doc: Document) -> None:
    doc["components"]["schemas"]["CwdError"] = {
        "type": "object",
        "required": ["reason", "message"],
        "properties": {"reason": {"type": "string"}, "message": {"type": "string"}},
    }
    for (path, method), statuses in CROWD_UNDECLARED_ERRORS.items():
        responses = _operation(doc, path, method)["responses"]
        for status in statuses:
            responses.setdefault(status, {"description": "error", "content": _json_body(_schema_ref("CwdError"))})


CROWD_REPAIRS: tuple[Repair, ...] = (
    crowd_direct_membership_reads,
    keep_admin_sync_paths("crowd"),
    crowd_search_paging,
    crowd_undeclared_errors,
)

REPAIRS: dict[str, tuple[Repair, ...]] = {
    "jira": JIRA_REPAIRS,
    "confluence": CONFLUENCE_REPAIRS,
    "bitbucket": BITBUCKET_REPAIRS,
    "crowd": CROWD_REPAIRS,
}


def repair_in_place(product: str, doc: Document) -> Document:
    """Apply the product's repairs to a freshly loaded document and return it."""
    for repair in REPAIRS[product]:
        repair(doc)
    return doc
