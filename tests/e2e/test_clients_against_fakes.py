"""One behaviour suite for the four clients, over real HTTP against the shipped fakes on a loopback port.

Every request a client sends is held against the product's OpenAPI document (RecordingSession), and
every answer the fakes give likewise (``checked_fakes``). Retries wait on a fake clock, never for real.
"""

from __future__ import annotations

import datetime as dt
import socket
from urllib.parse import parse_qsl, urlsplit

import pytest

from atlassian_clients import (
    AuthFailed,
    BasicAuth,
    HttpSettings,
    NotFound,
    PermissionDenied,
    RateLimited,
    TokenAuth,
    Unavailable,
    Unsupported,
    WrongEndpoint,
    build_client,
)
from tests.client_harness import FakeClock, RecordingSession
from tests.support.fake_products import checked_fakes, unchecked
from tests.support.openapi_contract import validate_prepared_request

PRODUCTS = ("jira", "confluence", "bitbucket", "crowd")
SETTINGS = HttpSettings(connect_timeout=2, read_timeout=10, deadline=20, backoff_max=2, rate=1000, burst=1000)
# Where each product creates and reads users, inside its context path (for the fault knobs and counters).
CREATE_USER = {
    "jira": "/rest/api/2/user",
    "confluence": "/rest/api/admin/user",
    "bitbucket": "/rest/api/latest/admin/users",
    "crowd": "/rest/usermanagement/1/user",
}
READ_USER = {"jira": "/rest/api/2/user", "confluence": "/rest/api/user", "bitbucket": "/rest/api/latest/admin/users",
             "crowd": "/rest/usermanagement/1/user"}
TOKEN = "pat-e2e-0001"


@pytest.fixture
def fakes():
    with checked_fakes(tokens={product: TOKEN for product in PRODUCTS}) as running:
        yield running


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def connect(fakes, clock):
    """``connect(product, auth=..., base_url=..., **options)`` -> a client whose requests are checked."""
    sessions: list[RecordingSession] = []

    def make(product: str, *, auth=None, base_url: str | None = None, checked: bool = True, **options):
        session = RecordingSession(product)
        if checked:
            sessions.append(session)
        options.setdefault("http", SETTINGS)
        options.setdefault("page_size", 2)
        return build_client(
            f"{product}-e2e",
            product,
            base_url or fakes.base_url(product),
            auth or BasicAuth("admin", "admin"),
            session=session,
            sleep=clock.sleep,
            clock=clock,
            wall_clock=clock.wall,
            **options,
        )

    yield make
    for session in sessions:
        # The fakes' own answers are checked by checked_fakes (injected faults excepted).
        for request, _ in session.exchanges:
            validate_prepared_request(session.product, request)


@pytest.fixture(params=PRODUCTS)
def product(request):
    return request.param


@pytest.fixture
def client(connect, product):
    return connect(product)


def capabilities(client):
    return client.capabilities()


# --------------------------------------------------------------------------------------------------
# users


def test_product_info_reports_version_and_capabilities(client, product):
    info = client.product_info()

    assert info.product == product
    # Crowd tells an application no version (docs/products.md §5.1).
    assert info.version == "" if product == "crowd" else info.version_tuple >= (8, 0)
    assert info.capabilities.can_deactivate is (product != "bitbucket")
    assert info.capabilities.can_rename_user is (product != "confluence")
    assert info.capabilities.can_rename_group is False
    assert (info.directories is not None) is (product == "bitbucket")


def test_create_then_read_the_account(client, product):
    creation = client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    user = client.get_user("jdoe")
    assert creation.created and creation.resource == user
    assert (user.name, user.display_name, user.active) == ("jdoe", "Jane Doe", True)
    assert user.key and (product != "jira" or user.key.startswith("JIRAUSER"))
    if product != "confluence":  # Confluence's user objects carry no e-mail address
        assert user.email == "jdoe@example.com"


def test_create_of_an_existing_account_links_it_without_a_second_create(client, fakes, product):
    first = client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    again = client.create_user("jdoe", "Someone Else", "else@example.com")

    assert again.created is False and again.resource.key == first.resource.key
    assert fakes.products.by_name()[product].calls.applied("POST", CREATE_USER[product]) == 1


def test_get_user_of_nobody_is_none(client):
    assert client.get_user("nobody-here") is None


def test_update_user_changes_display_name_and_email(client, fakes, product):
    client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    client.update_user("jdoe", display_name="Jane Q. Doe", email="jq@example.org")

    assert client.get_user("jdoe").display_name == "Jane Q. Doe"
    assert fakes.products.by_name()[product].user("jdoe").email == "jq@example.org"


def test_set_active_where_the_product_can(client):
    client.create_user("jdoe", "Jane Doe", "jdoe@example.com")
    if not capabilities(client).can_deactivate:
        with pytest.raises(Unsupported):
            client.set_active("jdoe", False)
        return

    client.set_active("jdoe", False)
    client.set_active("jdoe", False)
    assert client.get_user("jdoe").active is False
    client.set_active("jdoe", True)
    assert client.get_user("jdoe").active is True


def test_rename_where_the_product_can(client):
    key = client.create_user("jdoe", "Jane Doe", "jdoe@example.com").resource.key
    if not capabilities(client).can_rename_user:
        with pytest.raises(Unsupported):
            client.rename_user("jdoe", "jane.doe")
        return

    client.rename_user("jdoe", "jane.doe")
    client.rename_user("jdoe", "jane.doe")  # already done

    assert client.get_user("jdoe") is None
    assert client.get_user("jane.doe").key == key


def test_delete_user_twice(client):
    client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    client.delete_user("jdoe")
    client.delete_user("jdoe")

    assert client.get_user("jdoe") is None


def test_iter_users_walks_every_page(client):
    for name in ("u1", "u2", "u3", "u4", "u5"):
        client.create_user(name, name.upper(), f"{name}@example.com")

    names = {user.name for user in client.iter_users()}

    assert {"admin", "u1", "u2", "u3", "u4", "u5"} <= names


def test_find_users_by_email_where_the_product_can(client):
    client.create_user("jane", "Jane", "Jane@Example.com")
    client.create_user("janet", "Janet", "jane@example.com.au")
    if not capabilities(client).can_find_by_email:
        with pytest.raises(Unsupported):
            client.find_users_by_email("jane@example.com")
        return

    assert [user.name for user in client.find_users_by_email("jane@example.com")] == ["jane"]


def test_accounts_of_another_directory_say_so_where_the_product_tells(client, fakes, product):
    fakes.products.by_name()[product].add_user("ldap.user", "LDAP User", "ldap@example.com", directory="Corp LDAP")

    user = client.get_user("ldap.user")

    assert user.directory == ("Corp LDAP" if product == "bitbucket" else None)


# --------------------------------------------------------------------------------------------------
# groups and memberships


def test_group_lifecycle_is_idempotent(client):
    assert client.create_group("devs").created is True
    assert client.create_group("devs").created is False
    assert client.get_group("devs").name == "devs"
    assert "devs" in {group.name for group in client.iter_groups()}

    client.delete_group("devs")
    client.delete_group("devs")

    assert client.get_group("devs") is None


def test_iter_groups_walks_every_page(client):
    for name in ("g1", "g2", "g3", "g4", "g5"):
        client.create_group(name)

    assert {"g1", "g2", "g3", "g4", "g5"} <= {group.name for group in client.iter_groups()}


def test_membership_is_idempotent_both_ways(client):
    client.create_user("jdoe", "Jane Doe", "jdoe@example.com")
    client.create_group("devs")

    client.add_member("devs", "jdoe")
    client.add_member("devs", "jdoe")
    assert "devs" in client.user_groups("jdoe")
    assert [user.name for user in client.iter_group_members("devs")] == ["jdoe"]

    client.remove_member("devs", "jdoe")
    client.remove_member("devs", "jdoe")
    assert "devs" not in client.user_groups("jdoe")


def test_group_members_walk_every_page(client):
    client.create_group("crowd")
    for name in ("m1", "m2", "m3", "m4", "m5"):
        client.create_user(name, name, f"{name}@example.com")
        client.add_member("crowd", name)

    assert sorted(user.name for user in client.iter_group_members("crowd")) == ["m1", "m2", "m3", "m4", "m5"]


def test_adding_an_absent_user_raises_not_found_and_removing_one_succeeds(client):
    client.create_group("devs")

    with pytest.raises(NotFound):
        client.add_member("devs", "ghost")
    client.remove_member("devs", "ghost")


def test_licence_grant_and_revoke(client, fakes, product):
    client.create_user("jdoe", "Jane Doe", "jdoe@example.com")
    if product == "crowd":  # the products license the groups they map (docs/products.md §5.11)
        for change in (client.grant_licence, client.revoke_licence):
            with pytest.raises(Unsupported, match="default_groups"):
                change("jdoe")
        return

    def licensed() -> bool:
        if product == "jira":
            return "jira-software" in client.application_access("jdoe")
        if product == "confluence":
            return "confluence-users" in client.user_groups("jdoe")
        return fakes.bitbucket.dump()["userPermissions"].get("jdoe") == "LICENSED_USER"

    client.revoke_licence("jdoe")
    assert not licensed()
    client.grant_licence("jdoe")
    client.grant_licence("jdoe")
    assert licensed()
    client.revoke_licence("jdoe")
    client.revoke_licence("jdoe")
    assert not licensed()


# --------------------------------------------------------------------------------------------------
# retries over real HTTP


def test_429_with_retry_after_seconds_is_waited_out(client, fakes, product, clock):
    fakes.products.by_name()[product].knobs.throttle(times=2, retry_after=3)

    assert client.get_user("admin") is not None
    assert clock.sleeps[:2] == [3.0, 3.0]


def test_429_with_retry_after_as_a_date_is_waited_out(client, fakes, product, clock):
    later = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=4)
    fakes.products.by_name()[product].knobs.throttle(times=1, retry_after=later)

    assert client.get_user("admin") is not None
    assert 2.0 <= clock.sleeps[0] <= 5.0  # measured against the answer's own Date header


def test_endless_429_ends_in_rate_limited(client, fakes, product):
    fakes.products.by_name()[product].knobs.throttle(times=1000, retry_after=5)

    with pytest.raises(RateLimited, match="gave up after"):
        client.get_user("admin")


def test_503_then_success(client, fakes, product):
    fakes.products.by_name()[product].knobs.force_error("GET", READ_USER[product], 503)

    assert client.get_user("admin") is not None


def test_create_after_an_ambiguous_503_does_not_create_twice(client, fakes, product):
    fake = fakes.products.by_name()[product]
    fake.knobs.force_error("POST", CREATE_USER[product], 503, after_apply=True)

    creation = client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    assert creation.created is True and creation.resource.name == "jdoe"
    assert fake.calls.received("POST", CREATE_USER[product]) == 1
    assert fake.calls.applied("POST", CREATE_USER[product]) == 1


def test_create_after_a_503_that_did_not_land_is_sent_again(client, fakes, product):
    fake = fakes.products.by_name()[product]
    fake.knobs.force_error("POST", CREATE_USER[product], 503)

    assert client.create_user("jdoe", "Jane Doe", "jdoe@example.com").created is True
    assert fake.calls.received("POST", CREATE_USER[product]) == 2
    assert fake.calls.applied("POST", CREATE_USER[product]) == 1


# --------------------------------------------------------------------------------------------------
# Bitbucket: the create's password travels in the URL (docs/products.md §4.4)


def url_passwords(fakes) -> list[str]:
    """Every password Bitbucket received in a URL: what its access log, and any proxy's, holds."""
    return [
        value
        for exchange in fakes.exchanges("bitbucket")
        for name, value in parse_qsl(urlsplit(exchange.url).query)
        if name == "password"
    ]


def signs_in(connect, name: str, password: str) -> bool:
    try:
        connect("bitbucket", auth=BasicAuth(name, password)).get_user(name)
    except AuthFailed as refused:
        assert not isinstance(refused, PermissionDenied)
        return False
    return True


@pytest.mark.parametrize("fault", ["none", "create answered 503 after applying it"])
@pytest.mark.parametrize("password", [None, "chosen-pw-1"])  # the bridge passes none
def test_no_bitbucket_password_that_went_into_a_url_signs_in(connect, fakes, fault, password):
    if fault != "none":
        fakes.products.by_name()["bitbucket"].knobs.force_error("POST", CREATE_USER["bitbucket"], 503, after_apply=True)

    connect("bitbucket").create_user("jdoe", "Jane Doe", "jdoe@example.com", password=password)

    leaked = url_passwords(fakes)
    assert leaked and password not in leaked
    assert not any(signs_in(connect, "jdoe", url_password) for url_password in leaked)
    if password:
        assert signs_in(connect, "jdoe", password)


def test_a_bitbucket_create_that_failed_ambiguously_is_secured_by_the_next_lookup(connect, fakes):
    fake = fakes.products.by_name()["bitbucket"]
    fake.knobs.force_error("POST", CREATE_USER["bitbucket"], 503, after_apply=True)
    fake.knobs.force_error("GET", READ_USER["bitbucket"], 503, count=1000)  # until the deadline
    client = connect("bitbucket")

    with pytest.raises(Unavailable):
        client.create_user("jdoe", "Jane Doe", "jdoe@example.com")
    fake.knobs.clear()
    [leaked] = url_passwords(fakes)
    assert signs_in(connect, "jdoe", leaked)  # the account exists, with the logged password

    # The next delivery looks the account up before linking it.
    assert client.get_user("jdoe").name == "jdoe"

    assert not signs_in(connect, "jdoe", leaked)


# --------------------------------------------------------------------------------------------------
# configuration mistakes


def test_wrong_password_names_the_target(connect, product):
    client = connect(product, auth=BasicAuth("admin", "wrong"))

    with pytest.raises(AuthFailed) as caught:
        client.get_user("admin")

    assert caught.value.status == 401 and f"target '{product}-e2e'" in str(caught.value)
    assert "check the user name and password, or the personal access token" in str(caught.value)


def test_an_account_without_admin_rights_is_told_what_it_needs(connect, fakes, product):
    if product == "crowd":  # Crowd's callers are applications, each with its own permissions
        fakes.crowd.add_application("viewer", "pw", may_change=False)
    else:
        fakes.products.by_name()[product].add_user("viewer", "Viewer", "viewer@example.com", password="pw")
    client = connect(product, auth=BasicAuth("viewer", "pw"))

    with pytest.raises(PermissionDenied) as caught:
        client.create_group("devs")

    # Bitbucket says 401 with an AuthorisationException where the others say 403.
    assert caught.value.status == (401 if product == "bitbucket" else 403)
    assert "needs the" in str(caught.value)


def test_a_personal_access_token_works_where_the_product_lets_it(connect, product):
    # Crowd's description knows no bearer tokens: sending one is off its contract, and refused.
    client = connect(product, auth=TokenAuth(TOKEN), checked=product != "crowd")

    if product == "bitbucket":  # tokens cannot hold ADMIN (BSERV-10482)
        with pytest.raises(PermissionDenied, match="personal access tokens cannot call admin endpoints"):
            client.create_group("devs")
    elif product == "crowd":  # application credentials only (docs/products.md §5.2)
        with pytest.raises(AuthFailed) as refused:
            client.create_group("devs")
        assert refused.value.status == 401 and not isinstance(refused.value, PermissionDenied)
    else:
        assert client.create_group("devs").created is True


def test_a_base_url_without_the_context_path_is_a_wrong_endpoint(connect, fakes, product):
    client = connect(product, base_url=fakes.url, checked=False)

    with unchecked(fakes), pytest.raises(WrongEndpoint, match="check the target.s url"):
        client.product_info()


def test_nothing_listening_is_unavailable_and_says_to_check_base_url(connect, product):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = connect(
        product,
        base_url=f"http://127.0.0.1:{port}/{product}",
        http=HttpSettings(connect_timeout=1, deadline=3, backoff_max=1, rate=1000, burst=1000),
    )

    with pytest.raises(Unavailable, match="could not connect .* check the target.s url and that"):
        client.get_user("admin")
