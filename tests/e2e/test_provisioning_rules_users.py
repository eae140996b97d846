"""Each user setting of the rules changes what reaches Jira, Confluence and Bitbucket: shown off and on,
end to end (SCIM over HTTP to the live bridge, delivery over HTTP to the fakes).

The worker is off and each test drains the outbox itself (``drain()``), so what is asserted never
depends on how the worker threads interleave; whether a setting applies globally or per target is
part of each case.
"""

from __future__ import annotations

import pytest

from tests.e2e.provisioning_support import (
    EMAIL_LOCAL_PART,
    LICENCE,
    LICENCE_GROUPS,
    PRODUCTS,
    LinkState,
    account,
)

CREATE_CALL = {"jira": ("POST", "/rest/api/2/user"), "confluence": ("POST", "/rest/api/admin/user"),
               "bitbucket": ("POST", "/rest/api/latest/admin/users")}


def licensed(product: str, display: str, email: str, *groups: str) -> object:
    """An active account in the product's licence group (and ``groups``), licensed on Bitbucket."""
    return account(display, email, LICENCE[product], *groups, licensed=True if product == "bitbucket" else None)


def deactivated(product: str, display: str, email: str, *groups: str) -> object:
    """What deactivation leaves: inactive on Jira and Confluence, unlicensed on Bitbucket (which cannot
    deactivate), out of the licence group everywhere."""
    if product == "bitbucket":
        return account(display, email, *groups, licensed=False)
    return account(display, email, *groups, active=False)


def users(bridge, product: str) -> dict:
    return bridge.state(product)[0]


@pytest.mark.parametrize(("rules", "names"), [
    pytest.param({}, {p: "alice.smith@example.com" for p in PRODUCTS}, id="no-regex-lower-cased"),
    pytest.param({"username": {"regex": "(.*)@.*", "replacement": "$1"}}, dict.fromkeys(PRODUCTS, "alice.smith"),
                 id="dollar-group"),
    pytest.param({"username": {"regex": "(.*)@.*", "replacement": "\\1"}}, dict.fromkeys(PRODUCTS, "alice.smith"),
                 id="backslash-group"),
    pytest.param({"username": {"regex": r"^(\w+)\.(\w+)@.*$", "replacement": "$2-$1"}},
                 dict.fromkeys(PRODUCTS, "smith-alice"), id="reordered"),
    # Confluence refuses upper case, so it lower-cases whatever the setting says.
    pytest.param({"username": {"regex": "(.*)@.*", "lowercase": False}},
                 {"jira": "Alice.Smith", "confluence": "alice.smith", "bitbucket": "Alice.Smith"},
                 id="case-kept"),
    pytest.param({"username": {"lowercase": False}},
                 {"jira": "Alice.Smith@Example.com", "confluence": "alice.smith@example.com",
                  "bitbucket": "Alice.Smith@Example.com"}, id="no-regex-case-kept"),
])
def test_username_regex_replacement_and_lowercase(start, rules, names):
    bridge = start(rules=rules, targets=LICENCE_GROUPS, worker=False)
    user = bridge.idp.create_user("Alice.Smith@Example.com", "Alice Smith", "alice@example.com")
    bridge.drain()
    for product, name in names.items():
        assert users(bridge, product) == {name: licensed(product, "Alice Smith", "alice@example.com")}, product
        assert bridge.links("User", user)[product].name == name


def with_licences(overrides: dict | None = None) -> dict:
    """Per-target rules: the licence groups as default_groups, plus ``overrides`` by product."""
    return {p: {**LICENCE_GROUPS[p], **(overrides or {}).get(p, {})} for p in PRODUCTS}


@pytest.mark.parametrize("create", [True, False])
def test_users_create(start, create):
    bridge = start(rules={**EMAIL_LOCAL_PART, "users": {"create": create}}, targets=LICENCE_GROUPS, worker=False)
    for product in PRODUCTS:  # an account that exists already is linked either way
        bridge.fake(product).add_user("bob", "Bob (old)", "bob@example.com")
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    bridge.idp.create_user("bob@example.com", "Bob Jones")
    bridge.drain()
    for product in PRODUCTS:
        expected = {"bob": licensed(product, "Bob Jones", "bob@example.com")}
        if create:
            expected["alice"] = licensed(product, "Alice Smith", "alice@example.com")
        assert users(bridge, product) == expected, product
        assert bridge.fake(product).calls.applied(*CREATE_CALL[product]) == (1 if create else 0)
    if not create:
        assert {t: (link.status, link.reason) for t, link in bridge.links("User", alice).items()} == {
            p: ("skipped", "no account alice on the target and users.create is off") for p in PRODUCTS}


@pytest.mark.parametrize("update", [True, False])
def test_users_update_profile_and_rename(start, update):
    bridge = start(rules={**EMAIL_LOCAL_PART, "users": {"update": update}}, targets=LICENCE_GROUPS, worker=False)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    bridge.drain()
    bridge.idp.ok(bridge.idp.put(f"/Users/{alice}", {
        "userName": "alice.jones@example.com", "displayName": "Alice Jones",
        "emails": [{"value": "alice.jones@example.com", "primary": True}]}), 200)
    bridge.drain()
    for product in PRODUCTS:
        if update:
            name = "alice" if product == "confluence" else "alice.jones"  # Confluence cannot rename
            expected = {name: licensed(product, "Alice Jones", "alice.jones@example.com")}
        else:
            expected = {"alice": licensed(product, "Alice Smith", "alice@example.com")}
        assert users(bridge, product) == expected, product
    if not update:
        assert bridge.links("User", alice)["jira"].reason == (
            "alice is not renamed to alice.jones: users.update is off; "
            "alice: display name and email not updated: users.update is off")


@pytest.mark.parametrize("activate", [True, False])
def test_users_activate(start, activate):
    bridge = start(rules={**EMAIL_LOCAL_PART, "users": {"activate": activate}}, targets=LICENCE_GROUPS,
                   worker=False)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    bridge.drain()
    bridge.idp.change_user(alice, active=False)
    bridge.drain()
    bridge.idp.change_user(alice, active=True)
    bridge.drain()
    for product in PRODUCTS:
        state = licensed if activate else deactivated
        assert users(bridge, product) == {"alice": state(product, "Alice Smith", "alice@example.com")}, product
    if not activate:
        assert bridge.links("User", alice)["jira"].reason == "alice stays inactive on the target: users.activate is off"


@pytest.mark.parametrize(("overrides", "kept_active"), [
    pytest.param({}, set(), id="on"),
    pytest.param({"rules": {"users": {"deactivate": False}}}, set(PRODUCTS), id="off"),
    # Globally on, off for Jira alone.
    pytest.param({"targets": {"jira": {"users": {"deactivate": False}}}}, {"jira"}, id="off-for-jira"),
])
def test_users_deactivate_globally_and_per_target(start, overrides, kept_active):
    rules = {**EMAIL_LOCAL_PART, **overrides.get("rules", {})}
    bridge = start(rules=rules, targets=with_licences(overrides.get("targets")), worker=False)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    bridge.drain()
    bridge.idp.change_user(alice, active=False)
    bridge.drain()
    for product in PRODUCTS:
        state = licensed if product in kept_active else deactivated
        assert users(bridge, product) == {"alice": state(product, "Alice Smith", "alice@example.com")}, product
    for product in kept_active:
        reason = bridge.links("User", alice)[product].reason
        assert reason == "alice stays active on the target: users.deactivate is off", product


@pytest.mark.parametrize("on_delete", ["deactivate", "delete", "ignore"])
def test_users_on_delete(start, on_delete):
    bridge = start(rules={**EMAIL_LOCAL_PART, "users": {"on_delete": on_delete}}, targets=LICENCE_GROUPS,
                   worker=False)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    bridge.drain()
    bridge.idp.ok(bridge.idp.delete(f"/Users/{alice}"), 204)
    bridge.drain()
    assert bridge.idp.get(f"/Users/{alice}").status == 404
    for product in PRODUCTS:
        expected = {
            "deactivate": {"alice": deactivated(product, "Alice Smith", "alice@example.com")},
            "delete": {},
            "ignore": {"alice": licensed(product, "Alice Smith", "alice@example.com")},
        }[on_delete]
        assert users(bridge, product) == expected, product
    assert bridge.links("User", alice) == {}  # deprovisioned (or deliberately not) everywhere: forgotten
    if on_delete == "ignore":
        assert bridge.target_audit(alice, outcome="skipped") == {
            (p, "skipped", "alice was deleted in the identity provider; users.on_delete is ignore") for p in PRODUCTS}


def seed_everywhere(bridge, name: str, display: str, email: str, **options) -> None:
    for product in PRODUCTS:
        bridge.fake(product).add_user(name, display, email, **options)


@pytest.mark.parametrize("match_existing", ["username", "none"])
def test_users_match_existing_by_username(start, match_existing):
    bridge = start(rules={**EMAIL_LOCAL_PART, "users": {"match_existing": match_existing}}, targets=LICENCE_GROUPS,
                   worker=False)
    seed_everywhere(bridge, "alice", "A. Smith (old)", "alice.smith@example.com")
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith", "alice.smith@example.com")
    bridge.drain()
    for product in PRODUCTS:
        if match_existing == "username":  # linked and brought in line
            expected = licensed(product, "Alice Smith", "alice.smith@example.com")
        else:  # left as it is
            expected = account("A. Smith (old)", "alice.smith@example.com",
                               licensed=False if product == "bitbucket" else None)
        assert users(bridge, product) == {"alice": expected}, product
        # Never duplicated: not even a create attempt.
        assert bridge.fake(product).calls.received(*CREATE_CALL[product]) == 0, product
    links = {(link.status, link.reason) for link in bridge.links("User", alice).values()}
    assert links == ({("ok", None)} if match_existing == "username" else {
        ("skipped", "an account alice already exists and users.match_existing is none: not linked")})


@pytest.mark.parametrize("match_existing", ["username", "email"])
def test_users_match_existing_by_email(start, match_existing):
    # Set per target: Confluence reports no e-mail addresses (docs/products.md §3.3) and cannot match by one.
    overrides = {p: {"users": {"match_existing": match_existing}} for p in ("jira", "bitbucket")}
    bridge = start(rules=EMAIL_LOCAL_PART, targets=with_licences(overrides), worker=False)
    for product in ("jira", "bitbucket"):  # no account named alice, but one with Alice's address
        bridge.fake(product).add_user("asmith", "A. Smith (old)", "alice.smith@example.com")
    bridge.idp.create_user("alice@example.com", "Alice Smith", "alice.smith@example.com")
    bridge.drain()
    for product in ("jira", "bitbucket"):
        alice = licensed(product, "Alice Smith", "alice.smith@example.com")
        if match_existing == "email":
            # Linked, not duplicated, and given the username the rules make (both products rename).
            assert users(bridge, product) == {"alice": alice}, product
            assert bridge.fake(product).calls.received(*CREATE_CALL[product]) == 0, product
        else:
            asmith = account("A. Smith (old)", "alice.smith@example.com",
                             licensed=False if product == "bitbucket" else None)
            assert users(bridge, product) == {"alice": alice, "asmith": asmith}, product


@pytest.mark.parametrize("protected", [[], ["jenkins", "svc-*"]])
def test_users_protected(start, protected):
    bridge = start(rules={**EMAIL_LOCAL_PART, "users": {"protected": protected}}, targets=LICENCE_GROUPS,
                   worker=False)
    seed_everywhere(bridge, "jenkins", "Jenkins", "jenkins@example.com")
    seed_everywhere(bridge, "svc-build", "Build service", "svc-build@example.com")
    ids = [bridge.idp.create_user(f"{name}@example.com", "Managed by the IdP", f"{name}@idp.example")
           for name in ("jenkins", "svc-build")]
    bridge.drain()
    for user in ids:
        bridge.idp.change_user(user, active=False)
    bridge.drain()
    for product in PRODUCTS:
        if protected:  # never edited, licensed or deactivated
            bitbucket = {"licensed": False} if product == "bitbucket" else {}
            expected = {"jenkins": account("Jenkins", "jenkins@example.com", **bitbucket),
                        "svc-build": account("Build service", "svc-build@example.com", **bitbucket)}
        else:
            expected = {name: deactivated(product, "Managed by the IdP", f"{name}@idp.example")
                        for name in ("jenkins", "svc-build")}
        assert users(bridge, product) == expected, product
    if protected:
        assert bridge.links("User", ids[1])["jira"].reason == (
            "svc-build is protected (users.protected 'svc-*'): never changed by the bridge")
        assert ("jira", "skipped", "jenkins is protected (users.protected 'jenkins'): never changed by the bridge") \
            in bridge.target_audit(ids[0])


@pytest.mark.parametrize("directory", [None, "Bitbucket Internal Directory"])
def test_directory(start, directory):
    # Bitbucket is the product that says which directory an account is in (directoryName).
    targets = with_licences({"bitbucket": {"directory": directory}} if directory else {})
    bridge = start(rules=EMAIL_LOCAL_PART, targets=targets, worker=False)
    bridge.bitbucket.writable_directories.add("Corporate Crowd")
    bridge.bitbucket.add_user("carol", "Carol (Crowd)", "carol@example.com", directory="Corporate Crowd")
    bridge.bitbucket.add_user("dave", "Dave (LDAP)", "dave@example.com", directory="Corporate LDAP")
    carol = bridge.idp.create_user("carol@example.com", "Carol Smith")
    dave = bridge.idp.create_user("dave@example.com", "Dave Jones")
    bridge.drain()
    if directory:
        carol_now = account("Carol (Crowd)", "carol@example.com", licensed=False)
        assert bridge.links("User", carol)["bitbucket"] == LinkState(
            "skipped", "carol", None, "carol is in the directory 'Corporate Crowd', not 'Bitbucket Internal Directory' "
            "(directory): left alone", None)
    else:
        carol_now = licensed("bitbucket", "Carol Smith", "carol@example.com")
    # A read-only (LDAP) account is left alone whatever the setting.
    assert users(bridge, "bitbucket") == {"carol": carol_now,
                                         "dave": account("Dave (LDAP)", "dave@example.com", licensed=False)}
    assert bridge.links("User", dave)["bitbucket"].reason == (
        "dave is in the read-only directory 'Corporate LDAP': left alone")
    assert bridge.bitbucket.calls.received(*CREATE_CALL["bitbucket"]) == 0
