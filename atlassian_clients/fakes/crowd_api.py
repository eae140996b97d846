"""The REST resources of the fake Crowd (paths under /rest/usermanagement/1; docs/products.md §5)."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hmac
import re

from flask import Response, request

from atlassian_clients.fakes.crowd import FakeCrowd
from atlassian_clients.fakes.directory import Account, fold, page
from atlassian_clients.fakes.product import Caller
from atlassian_clients.fakes.rest import (
    Access,
    ExchangeLog,
    ProductApi,
    ProductError,
    base_url,
    empty_response,
    int_arg,
    json_body,
    json_response,
)

# Crowd's default page (docs/products.md §5.4).
DEFAULT_MAX_RESULTS = 1000
# The restrictions the fake understands: one attribute compared with "=" (docs/products.md §5.4).
RESTRICTION = re.compile(r'^\s*(?P<attribute>[A-Za-z]+)\s*=\s*(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>\S+))\s*$')
USER_ATTRIBUTES = {"name": lambda a, crowd: a.name, "email": lambda a, crowd: a.email,
                   "displayName": lambda a, crowd: a.display_name,
                   "firstName": lambda a, crowd: crowd.first_and_last(a)[0],
                   "lastName": lambda a, crowd: crowd.first_and_last(a)[1]}


class CrowdApi(ProductApi):
    """Authenticates applications, not users (docs/products.md §5.2)."""

    product: FakeCrowd

    def _authenticate(self) -> Caller | Response:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return self.product.bad_credentials_response()  # no personal access tokens here
        try:
            name, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return self.product.bad_credentials_response()
        application = self.product.application(name)
        if application is None or not hmac.compare_digest(application.password, password):
            return self.product.bad_credentials_response()
        return Caller(application.name, application.may_change, False)


def create_crowd_app(crowd: FakeCrowd, recorder: ExchangeLog | None = None):
    api = CrowdApi(crowd, recorder)
    directory = crowd.directory

    def existing_user(name: str | None) -> Account:
        account = directory.user(name) if name else None
        if account is None:
            raise ProductError(404, f"User <{name}> does not exist", exception="USER_NOT_FOUND")
        return account

    def existing_group(name: str | None) -> str:
        stored = directory.group(name) if name else None
        if stored is None:
            raise ProductError(404, f"Group <{name}> does not exist", exception="GROUP_NOT_FOUND")
        return stored

    def writable(account: Account) -> None:
        if not crowd.writable(account):
            raise ProductError(403, f"The directory '{account.directory}' of user <{account.name}> is read-only",
                               exception="APPLICATION_PERMISSION_DENIED")

    def expanded(entity: str) -> bool:
        return entity in {part.strip() for part in request.args.get("expand", "").split(",")}

    def listing(items: list, key: str, render) -> Response:
        start = max(int_arg("start-index", 0), 0)
        chunk, _ = page(items, start, max(int_arg("max-results", DEFAULT_MAX_RESULTS), 0))
        entity = key[:-1]
        return json_response({"expand": entity, key: [render(item, expanded(entity)) for item in chunk]})

    def user_json(account: Account, full: bool = True) -> dict:
        return crowd.user_entity(base_url(), account, expanded=full)

    def group_json(name: str, full: bool = True) -> dict:
        return crowd.group_entity(base_url(), name, expanded=full)

    def user_fields(body: dict) -> dict:
        """The stored fields of a user entity; what it leaves out is blanked (docs/products.md §5.6)."""
        display = str(body.get("display-name") or "").strip()
        first, last = (str(body.get(f) or "").strip() for f in ("first-name", "last-name"))
        if not display:
            display = " ".join(part for part in (first, last) if part)
        return {"display_name": display, "email": str(body.get("email") or ""),
                "active": body.get("active") is not False, "names": (first, last)}

    # -- users -------------------------------------------------------------------------------------

    @api.route("/user", "GET", Access.USER)
    def get_user() -> Response:
        key = request.args.get("key")
        if key and not request.args.get("username"):
            account = directory.user_by_key(key)
            if account is None:
                raise ProductError(404, f"User with key <{key}> does not exist", exception="USER_NOT_FOUND")
        else:
            account = existing_user(request.args.get("username"))
        return json_response(user_json(account))

    @api.route("/user", "POST")
    def create_user() -> Response:
        body = json_body()
        name = str(body.get("name") or "").strip()
        password = (body.get("password") or {}).get("value") if isinstance(body.get("password"), dict) else None
        if not name:
            raise ProductError(400, "The user must have a name", exception="INVALID_USER")
        if not password:
            raise ProductError(400, "The user must have a password", exception="INVALID_USER")
        if directory.user(name):
            raise ProductError(400, f"User <{name}> already exists", exception="INVALID_USER")
        fields = user_fields(body)
        names = fields.pop("names")
        if not fields["display_name"]:
            raise ProductError(400, "The user must have a display name or a first and last name",
                               exception="INVALID_USER")
        account = directory.add_user(name, fields["display_name"], fields["email"], password=password,
                                     active=fields["active"], directory=crowd.internal_directory)
        crowd.names[account.id] = names
        location = crowd.link(base_url(), "user", "username", account.name)["href"]
        return json_response(user_json(account), 201, {"Location": location})

    @api.route("/user", "PUT")
    def update_user() -> Response:
        account, body = existing_user(request.args.get("username")), json_body()
        if fold(str(body.get("name") or "")) != fold(account.name):
            raise ProductError(400, "The user name in the body does not match the one in the URI",
                               exception="ILLEGAL_ARGUMENT")
        writable(account)
        fields = user_fields(body)
        crowd.names[account.id] = fields.pop("names")
        directory.update_user(account, **fields)
        return empty_response(204)

    @api.route("/user", "DELETE")
    def delete_user() -> Response:
        account = existing_user(request.args.get("username"))
        writable(account)
        crowd.names.pop(account.id, None)
        directory.remove_user(account)
        return empty_response(204)

    @api.route("/user/rename", "POST")
    def rename_user() -> Response:
        account = existing_user(request.args.get("username"))
        new_name = str(json_body().get("new-name") or "").strip()
        if not new_name:
            raise ProductError(400, "The new name is empty", exception="INVALID_USER")
        if fold(new_name) != fold(account.name) and directory.user(new_name):
            raise ProductError(400, f"User <{new_name}> already exists", exception="INVALID_USER")
        writable(account)
        directory.rename_user(account, new_name)
        return json_response(user_json(account))

    @api.route("/user/group/direct", "GET", Access.USER)
    def groups_of_user() -> Response:
        # An unknown user answers an empty list, not 404 (CWD-4470, docs/products.md §5.10).
        name = request.args.get("username", "")
        groups = directory.groups_of(name) if directory.user(name) else []
        return listing(groups, "groups", group_json)

    # -- groups ------------------------------------------------------------------------------------

    @api.route("/group", "GET", Access.USER)
    def get_group() -> Response:
        return json_response(group_json(existing_group(request.args.get("groupname"))))

    @api.route("/group", "POST")
    def create_group() -> Response:
        body = json_body()
        name = str(body.get("name") or "").strip()
        if not name or body.get("type", "GROUP") != "GROUP":
            raise ProductError(400, "A group needs a name and the type GROUP", exception="INVALID_GROUP")
        if directory.group(name):
            raise ProductError(400, f"Group <{name}> already exists", exception="INVALID_GROUP")
        directory.add_group(name)
        crowd.descriptions[fold(name)] = str(body.get("description") or "")
        return Response(status=201, headers={"Location": crowd.link(base_url(), "group", "groupname", name)["href"]})

    @api.route("/group", "DELETE")
    def delete_group() -> Response:
        group = existing_group(request.args.get("groupname"))
        directory.remove_group(group)
        crowd.descriptions.pop(fold(group), None)
        return empty_response(204)

    @api.route("/group/user/direct", "GET", Access.USER)
    def members_of_group() -> Response:
        name = request.args.get("groupname", "")
        group = directory.group(name)
        user = request.args.get("username")
        if user is not None:  # a membership test: the user, or 404
            if group is None or not directory.is_member(group, user):
                raise ProductError(404, f"User <{user}> is not a direct member of <{name}>",
                                   exception="MEMBERSHIP_NOT_FOUND")
            return json_response(user_json(directory.user(user)))
        # An unknown group answers an empty list, not 404 (CWD-4470, docs/products.md §5.10).
        return listing(directory.members(group) if group else [], "users", user_json)

    @api.route("/group/user/direct", "POST")
    def add_member() -> Response:
        group = existing_group(request.args.get("groupname"))
        name = str(json_body().get("name") or "")
        account = directory.user(name)
        if account is None:  # 400, not 404: the 404 is the group's (docs/products.md §5.10)
            raise ProductError(400, f"User <{name}> does not exist", exception="USER_NOT_FOUND")
        if not directory.add_member(group, account.name):
            raise ProductError(409, f"User <{account.name}> is already a direct member of <{group}>",
                               exception="MEMBERSHIP_ALREADY_EXISTS")
        return Response(status=201, headers={"Location": crowd.link(base_url(), "group/user/direct", "groupname",
                                                                    group)["href"]})

    @api.route("/group/user/direct", "DELETE")
    def remove_member() -> Response:
        group = existing_group(request.args.get("groupname"))
        account = existing_user(request.args.get("username"))
        if not directory.remove_member(group, account.name):
            raise ProductError(404, f"User <{account.name}> is not a direct member of <{group}>",
                               exception="MEMBERSHIP_NOT_FOUND")
        return empty_response(204)

    # -- search ------------------------------------------------------------------------------------

    @api.route("/search", "GET", Access.USER)
    def search() -> Response:
        entity_type = request.args.get("entity-type", "")
        restriction = request.args.get("restriction")
        if entity_type == "user":
            found = directory.users() if not restriction else matching_users(restriction)
            return listing(found, "users", user_json)
        if entity_type == "group":
            groups = directory.groups()
            if restriction:
                attribute, wanted = parsed(restriction)
                if attribute != "name":
                    raise ProductError(400, f"The fake searches groups by name only, not {attribute}",
                                       exception="ILLEGAL_ARGUMENT")
                groups = [g for g in groups if fnmatch.fnmatchcase(fold(g), wanted)]
            return listing(groups, "groups", group_json)
        raise ProductError(400, f"Unknown entity-type <{entity_type}>: use user or group", exception="ILLEGAL_ARGUMENT")

    def parsed(restriction: str) -> tuple[str, str]:
        match = RESTRICTION.match(restriction)
        if match is None:
            raise ProductError(400, f"The fake cannot read the restriction <{restriction}>",
                               exception="ILLEGAL_ARGUMENT")
        value = match["bare"] if match["quoted"] is None else re.sub(r"\\(.)", r"\1", match["quoted"])
        return match["attribute"], fold(value)

    def matching_users(restriction: str) -> list[Account]:
        attribute, wanted = parsed(restriction)
        if attribute == "active":
            return [a for a in directory.users() if a.active is (wanted == "true")]
        read = USER_ATTRIBUTES.get(attribute)
        if read is None:
            raise ProductError(400, f"Unknown user attribute <{attribute}>", exception="ILLEGAL_ARGUMENT")
        # The substring index narrows the candidates when the value has no wildcard.
        candidates = directory.search(wanted) if "*" not in wanted else directory.users()
        return [a for a in candidates if fnmatch.fnmatchcase(fold(read(a, crowd)), wanted)]

    return api.app
