"""The admin console without a browser: who may open it, how sign-ins are limited, forms without
their CSRF token, how passwords are kept, the ``admin`` commands, and the console switched off.
(tests/e2e/test_console_browser.py drives the pages in Chromium.)"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime, timedelta
from html import unescape

import flask
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from atlassian_clients.fakes import start_fakes
from scim_bridge.auth import list_tokens
from scim_bridge.checks import latest_check, open_check
from scim_bridge.cli import PROBLEMS
from scim_bridge.cli import main as cli_main
from scim_bridge.console.accounts import AccountError, Accounts, LoginThrottle
from scim_bridge.store.database import make_engine
from scim_bridge.store.models import ApiToken, Base, ConfigCheck, ConsoleAdmin, OutboxRow
from tests.e2e.console_support import ADMIN, ConsoleClient, console_app, csrf_token
from tests.e2e.provisioning_support import LICENCE_GROUPS, command_line
from tests.support.bridge import ScimClient
from tests.support.credentials import CONSOLE_PASSWORD, CONSOLE_WRONG_PASSWORD, TOKEN

# Route arguments for building every console URL.
ARGUMENTS = {"user_id": "0d7e4c1e-0000-4000-8000-000000000000", "run_id": 1, "unknown": "elsewhere",
             "filename": "console.css"}
OPEN = {"console.login", "console.static"}


def console_routes(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, path) of every console route but the sign-in page and the static files."""
    out = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("console.") or rule.endpoint in OPEN:
                continue
            path = rule.build({name: ARGUMENTS[name] for name in rule.arguments})[1]
            out += [(rule.endpoint, method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


def insert_parked(engine, target: str = "jira") -> int:
    with engine.begin() as conn:
        return conn.execute(sa.insert(OutboxRow).values(
            resource_type="User", resource_id=ARGUMENTS["user_id"], target=target, state="parked", attempts=1,
            last_error="The server answered 400", generation=1, due_at=datetime.now(UTC),
            created=datetime.now(UTC)).returning(OutboxRow.id)).scalar_one()


def parked_states(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(sa.select(OutboxRow.state)))


# -- who may open it ------------------------------------------------------------------------------


def test_every_console_route_sends_a_visitor_who_is_not_signed_in_to_the_sign_in(engine):
    app = console_app(engine)
    routes = console_routes(app)
    assert {endpoint for endpoint, _, _ in routes} >= {
        "console.overview", "console.problems", "console.retry", "console.people", "console.person",
        "console.reconcile", "console.reconcile_start", "console.reconcile_run", "console.reconcile_status",
        "console.configuration", "console.token_create", "console.token_revoke", "console.logout"}
    insert_parked(engine)
    client = ConsoleClient(app)
    token = client.token()  # a visitor's own valid CSRF token does not stand in for signing in
    for endpoint, method, path in routes:
        data = {"csrf_token": token, "name": "new", "row": "1"} if method == "POST" else None
        response = client.http.open(path, method=method, data=data)
        assert response.status_code == 302, (endpoint, method, response.status_code)
        assert response.headers["Location"].startswith("/admin/login"), (endpoint, response.headers["Location"])
    assert parked_states(engine) == ["parked"]


def test_a_scim_bearer_token_opens_nothing_in_the_console(engine):
    app = console_app(engine)
    client = ConsoleClient(app)
    for path in ("/admin/", "/admin/problems", "/admin/configuration"):
        response = client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")


def test_a_signed_in_administrator_sees_the_pages_and_sign_out_ends_the_session(engine):
    app = console_app(engine)
    client = ConsoleClient(app)
    assert client.login().headers["Location"] == "/admin/"
    for path in ("/admin/", "/admin/problems", "/admin/people?q=x", "/admin/reconcile", "/admin/configuration"):
        page = client.get(path)
        assert page.status_code == 200 and f"Signed in as <strong>{ADMIN}</strong>" in page.text, path
    client.post("/admin/logout", page="/admin/")
    assert client.get("/admin/").status_code == 302


def test_sign_in_returns_to_the_console_page_asked_for_and_never_to_another_site(engine):
    app = console_app(engine)
    assert ConsoleClient(app).get("/admin/problems").headers["Location"] == "/admin/login?next=/admin/problems"
    for asked, landing in (("/admin/problems", "/admin/problems"), ("https://evil.example/", "/admin/"),
                           ("//evil.example/admin/", "/admin/")):
        client = ConsoleClient(app)
        response = client.http.post("/admin/login", data={"name": ADMIN, "password": CONSOLE_PASSWORD,
                                                          "next": asked, "csrf_token": client.token()})
        assert response.headers["Location"] == landing


def test_deleting_an_administrator_ends_their_open_session_at_once(engine):
    app = console_app(engine)
    client = ConsoleClient(app)
    client.login()
    assert client.get("/admin/").status_code == 200
    assert Accounts(engine).delete(ADMIN)
    Accounts(engine).create("grace", CONSOLE_PASSWORD)  # the console stays open for others
    assert client.get("/admin/").status_code == 302


def test_the_session_cookie_is_secure_httponly_samesite_and_kept_to_the_console(engine):
    app = console_app(engine, console={"secure_cookies": True})
    cookie = ConsoleClient(app).login().headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/admin" in cookie


def test_without_secure_cookies_the_console_answers_loopback_clients_only(engine):
    app = console_app(engine)  # secure_cookies: false
    assert ConsoleClient(app, address="10.1.2.3").get("/admin/login").status_code == 403
    assert ConsoleClient(app, address="::1").get("/admin/login").status_code == 200
    secure = console_app(engine, admin=False, console={"secure_cookies": True})
    assert ConsoleClient(secure, address="10.1.2.3").get("/admin/login").status_code == 200


def test_every_worker_signs_sessions_with_the_key_kept_in_the_database(engine):
    first, second = console_app(engine), console_app(engine, admin=False)
    client = ConsoleClient(first)
    client.login()
    ConsoleClient(second).get("/admin/login")
    assert first.secret_key == second.secret_key and len(first.secret_key) >= 32
    cookie = client.http.get_cookie("scim_bridge_console", path="/admin")
    other = ConsoleClient(second)
    other.http.set_cookie("scim_bridge_console", cookie.value, path="/admin")
    assert other.get("/admin/").status_code == 200


@pytest.mark.parametrize("key", ["configured", "kept in the database"])
def test_sessions_are_opened_for_the_console_alone(engine, key):
    settings = {"console": {"secret_key": "k" * 40}} if key == "configured" else {}
    app = console_app(engine, **settings)
    client = ConsoleClient(app)
    assert client.login().status_code == 302
    assert client.get("/admin/").status_code == 200  # signed in: the session opened and was kept
    scim = ScimClient(app)
    created = scim.post("/Users", {"userName": "ann@example.com"})
    assert created.status == 201 and "Set-Cookie" not in created.headers
    with app.test_request_context("/scim/v2/Users"):
        assert app.session_interface.open_session(app, flask.request) is None  # no serializer, no session
    with app.test_request_context("/admin/"):
        assert app.session_interface.open_session(app, flask.request) is not None


def test_the_app_starts_while_the_database_is_away_and_the_console_says_so(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'gone' / 'bridge.db'}")  # a directory that does not exist
    page = ConsoleClient(console_app(engine, admin=False)).get("/admin/login")
    assert page.status_code == 503 and "database is not answering" in page.text


def test_the_console_is_off_when_disabled_and_closed_until_an_administrator_exists(engine):
    off = ConsoleClient(console_app(engine, admin=False, console={"enabled": False}))
    for path in ("/admin/", "/admin/login"):
        response = off.get(path)
        assert response.status_code == 404 and "scim_bridge_console" not in response.headers.get("Set-Cookie", "")
    closed = ConsoleClient(console_app(engine, admin=False))
    response = closed.get("/admin/login")
    assert response.status_code == 404 and "scim-bridge admin create NAME" in response.text
    Accounts(engine).create(ADMIN, CONSOLE_PASSWORD)
    assert closed.get("/admin/login").status_code == 200


# -- forms and CSRF -------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "forged-token"], ids=["missing", "forged"])
def test_a_form_post_without_its_csrf_token_is_refused_and_changes_nothing(engine, token):
    app = console_app(engine)
    insert_parked(engine)
    client = ConsoleClient(app)
    client.login()
    data = {"row": "1"} if token is None else {"row": "1", "csrf_token": token}
    response = client.http.post("/admin/problems/retry", data=data)
    assert response.status_code == 400 and "Form refused" in response.text
    assert parked_states(engine) == ["parked"]
    assert client.post("/admin/problems/retry", {"row": "1"}, page="/admin/problems").status_code == 302
    assert parked_states(engine) == ["pending"]


def test_the_sign_in_form_needs_its_csrf_token_too(engine):
    client = ConsoleClient(console_app(engine))
    response = client.http.post("/admin/login", data={"name": ADMIN, "password": CONSOLE_PASSWORD})
    assert response.status_code == 400 and "admin_id" not in response.headers.get("Set-Cookie", "")


# -- the limit on failed sign-ins -----------------------------------------------------------------


def test_failed_sign_ins_are_limited_per_account_across_workers_and_addresses(engine):
    first, second = console_app(engine), console_app(engine, admin=False)  # two gunicorn workers
    for attempt in range(5):
        client = ConsoleClient(first if attempt % 2 else second, address=f"127.0.0.{10 + attempt}")
        assert client.login(password=CONSOLE_WRONG_PASSWORD).status_code == 401
    refused = ConsoleClient(first, address="127.0.0.99").login()  # the right password, too late
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text


def test_failed_sign_ins_are_limited_per_address_whatever_the_account(engine):
    app = console_app(engine)
    client = ConsoleClient(app, address="127.0.0.7")
    for name in ("root", "admin", "administrator", "ada.l", "ops"):
        assert client.login(name=name, password=CONSOLE_WRONG_PASSWORD).status_code == 401
    assert client.login().status_code == 429
    assert ConsoleClient(app, address="127.0.0.8").login().status_code == 302


def test_the_limit_counts_failures_within_the_window_only(engine):
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    throttle = LoginThrottle(engine, attempts=5, window=60, clock=lambda: now[0])
    for _ in range(5):
        throttle.failed("ada", "10.0.0.1")
    assert throttle.blocked("ada", "10.9.9.9") and throttle.blocked("someone", "10.0.0.1")
    assert not throttle.blocked("grace", "10.0.0.2")
    now[0] += timedelta(seconds=61)
    assert not throttle.blocked("ada", "10.0.0.1")


# -- passwords ------------------------------------------------------------------------------------


def dump_store(engine) -> str:
    """Every value of every table, as text."""
    with engine.connect() as conn:
        return "\n".join(repr(row) for table in Base.metadata.sorted_tables for row in conn.execute(sa.select(table)))


def test_passwords_are_kept_only_as_argon2_hashes_and_never_logged(engine, caplog):
    caplog.set_level(logging.DEBUG)
    app = console_app(engine)
    client = ConsoleClient(app)
    assert client.login(password=CONSOLE_WRONG_PASSWORD).status_code == 401
    assert client.login(name=CONSOLE_PASSWORD, password=CONSOLE_PASSWORD).status_code == 401  # typed in the name
    assert client.login().status_code == 302
    with engine.connect() as conn:
        stored = conn.scalar(sa.select(ConsoleAdmin.password_hash))
    assert stored.startswith("$argon2id$")
    everything = dump_store(engine)
    assert CONSOLE_PASSWORD not in everything and CONSOLE_WRONG_PASSWORD not in everything
    logged = "\n".join(record.getMessage() + repr(record.__dict__) for record in caplog.records)
    assert "console sign-in failed" in logged
    assert CONSOLE_PASSWORD not in logged and CONSOLE_WRONG_PASSWORD not in logged


def test_accounts_refuse_short_passwords_and_bad_names(engine):
    accounts = Accounts(engine)
    with pytest.raises(AccountError, match="at least 12 characters"):
        accounts.create("ada", "short")
    with pytest.raises(AccountError, match="letters, digits"):
        accounts.create("ada lovelace", CONSOLE_PASSWORD)
    assert accounts.list() == []


# -- the admin commands ---------------------------------------------------------------------------


def run_cli(tmp_path, *args, input=None):
    """The command line on a fresh SQLite file (the commands build the schema themselves)."""
    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: sqlite:///{tmp_path / 'cli.db'}\n", encoding="utf-8")
    return CliRunner().invoke(cli_main, list(args), input=input,
                              env={"SCIM_BRIDGE_CONFIG": str(config), "SCIM_BRIDGE_DATABASE_URL": ""})


def test_the_admin_commands_create_list_change_and_delete_accounts(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    typed = f"{CONSOLE_PASSWORD}\n{CONSOLE_PASSWORD}\n"
    created = run_cli(tmp_path, "admin", "create", ADMIN, input=typed)
    assert created.exit_code == 0, created.output
    assert "administrator ada created" in created.output and CONSOLE_PASSWORD not in created.output
    assert Accounts(engine).authenticate(ADMIN, CONSOLE_PASSWORD) is not None

    mismatch = run_cli(tmp_path, "admin", "create", "grace",
                       input=f"{CONSOLE_PASSWORD}\n{CONSOLE_WRONG_PASSWORD}\n{CONSOLE_PASSWORD}\n{CONSOLE_PASSWORD}\n")
    assert mismatch.exit_code == 0 and "do not match" in mismatch.output
    again = run_cli(tmp_path, "admin", "create", "ADA", input=typed)
    assert again.exit_code == 1 and "exists already" in again.output
    short = run_cli(tmp_path, "admin", "create", "bob", input="short\nshort\n")
    assert short.exit_code == 1 and "at least 12 characters" in short.output

    listed = run_cli(tmp_path, "admin", "list")
    assert [line.split("\t")[0] for line in listed.output.splitlines()] == ["ada", "grace"]
    assert "last sign-in never" in listed.output

    changed = run_cli(tmp_path, "admin", "password", ADMIN,
                      input=f"{CONSOLE_WRONG_PASSWORD}\n{CONSOLE_WRONG_PASSWORD}\n")
    assert changed.exit_code == 0
    assert Accounts(engine).authenticate(ADMIN, CONSOLE_PASSWORD) is None
    assert Accounts(engine).authenticate(ADMIN, CONSOLE_WRONG_PASSWORD) is not None

    assert run_cli(tmp_path, "admin", "delete", "grace").exit_code == 0
    missing = run_cli(tmp_path, "admin", "delete", "grace")
    assert missing.exit_code == 1 and "no administrator named 'grace'" in missing.output
    assert [a.name for a in Accounts(engine).list()] == ["ada"]


# -- configuration and tokens ---------------------------------------------------------------------


def test_the_configuration_page_masks_secrets_and_shows_a_new_token_once(engine, tmp_path):
    target = {"type": "jira", "url": "https://jira.example.com", "username": "svc", "password": "pw-secret"}
    app = console_app(engine, targets={"jira": target}, delivery={"worker": False},
                      database={"url": "postgresql://bridge:hunter22@db.example.com/bridge"})
    client = ConsoleClient(app)
    client.login()
    page = client.get("/admin/configuration").text
    assert "basic auth as svc" in page and "https://jira.example.com" in page and "rules.users.on_delete" in page
    assert "pw-secret" not in page and "hunter22" not in page and TOKEN not in page
    assert app.secret_key not in page

    created = client.post("/admin/tokens", {"name": "okta"})
    assert created.status_code == 201 and "shown this once only" in created.text
    value = token_value(created.text)
    assert ScimClient(app, token=value).get("/Users").status == 200
    listed = client.get("/admin/configuration").text
    assert "okta" in listed and value not in listed and "<td>config.yaml</td>" in listed  # the idp token

    # Rotation: a second token under the same name, expiring, then the first one revoked by its id.
    second = client.post("/admin/tokens", {"name": "okta", "expires_days": "30"})
    assert second.status_code == 201 and "expires" in second.text
    with engine.connect() as conn:
        first_id = conn.scalar(sa.select(sa.func.min(ApiToken.id)))
    client.post("/admin/tokens/revoke", {"id": str(first_id)})
    states = {entry.id: entry.state for entry in list_tokens(engine, [])}
    assert list(states.values()).count("revoked") == 1 and states[first_id] == "revoked"
    assert f"(id {first_id}) revoked" in client.get("/admin/configuration").text

    assert client.post("/admin/tokens", {"name": "no spaces"}).status_code == 400
    assert client.post("/admin/tokens", {"name": "okta", "expires_days": "-1"}).status_code == 400


# Jira's default group mistyped, and an application key Jira does not have (tests/e2e/test_check_config.py).
MISTYPED_GROUP = ("problem", "targets.jira.rules.default_groups", "no group named 'jira-softwre-users' on jira: "
                  "users would be put in a new, empty group of that name and get no licence (check the spelling "
                  "against the product's groups)")
UNKNOWN_APPLICATION = ("problem", "targets.jira.rules.application_keys", "jira has no application "
                       "'jira-servicedesk' (it has: jira-software): creating a user there would be refused")


def findings_shown(html: str) -> dict[str, list[tuple[str, str, str]]]:
    """The Configuration page's check results: per table caption, (level, setting, message) as read."""
    out = {}
    for caption, body in re.findall(r'<table class="checks">\s*<caption>(.*?)</caption>(.*?)</table>', html, re.S):
        rows = re.findall(r'<tr data-level="(\w+)">.*?<code>(.*?)</code></td><td>(.*?)</td></tr>', body, re.S)
        out[unescape(caption)] = [tuple(unescape(cell) for cell in row) for row in rows]
    return out


def checks_finished(client: ConsoleClient) -> str:
    """The Configuration page once the latest run of the checks is no longer running (as htmx polls it)."""
    deadline = time.monotonic() + 120  # a generous bound on a loaded machine, not a speed assertion
    while 'data-state="running"' in client.get("/admin/configuration/checks").text and time.monotonic() < deadline:
        time.sleep(0.2)
    return client.get("/admin/configuration").text


def test_the_configuration_page_runs_check_configs_checks_and_shows_the_latest_findings(engine, tmp_path):
    with start_fakes() as fakes:
        jira = {"type": "jira", "url": fakes.base_url("jira"), "username": "admin", "password": "admin",
                "rules": {"default_groups": ["jira-software-users", "jira-softwre-users"],
                          "application_keys": ["jira-software", "jira-servicedesk"]}}
        app = console_app(engine, targets={"jira": jira}, delivery={"worker": False})
        client = ConsoleClient(app)
        client.login()
        assert "The checks have not run yet." in client.get("/admin/configuration").text

        refused = client.http.post("/admin/configuration/checks", data={})
        assert refused.status_code == 400 and "Form refused" in refused.text
        assert latest_check(engine) is None  # refused, so nothing ran

        started = client.post("/admin/configuration/checks")
        assert started.status_code == 302 and started.headers["Location"].endswith("/admin/configuration#checks")
        page = checks_finished(client)
        assert f"by {ADMIN}: 2 problem(s), 0 warning(s), " in unescape(page)
        shown = findings_shown(page)
        assert shown["Tokens and targets"] == [
            ("ok", "auth.tokens", "1 token(s) in the configuration file, 0 active token(s) stored")]
        on_jira = shown["Target jira"]
        assert MISTYPED_GROUP in on_jira and UNKNOWN_APPLICATION in on_jira
        assert ("ok", "targets.jira.rules.default_groups", "jira-software-users found on jira") in on_jira
        assert ("ok", "targets.jira.rules.application_keys", "jira-software found on jira") in on_jira
        assert TOKEN not in page  # nothing of a token's value (the page's masking: the test above)

        # check-config on the command line keeps its run too: the page shows the latest, from either.
        config = {"database": {"url": engine.url.render_as_string(hide_password=False)},
                  "auth": {"tokens": [{"name": "idp", "value": TOKEN}]}, "targets": {"jira": jira}}
        printed = command_line(tmp_path, config, "check-config", in_process=True, status=PROBLEMS)
        assert "problem: {}: {}\n".format(*MISTYPED_GROUP[1:]) in printed
        latest = client.get("/admin/configuration").text
        assert re.search(r"by command line \([^)]+\): 2 problem\(s\)", latest)
        assert findings_shown(latest)["Target jira"] == on_jira


def test_one_run_of_the_checks_at_a_time_and_one_left_by_a_stopped_process_is_shown_interrupted(engine):
    app = console_app(engine, delivery={"worker": False})
    client = ConsoleClient(app)
    client.login()
    running = open_check(engine, "grace")
    assert 'data-state="running"' in client.get("/admin/configuration/checks").text  # htmx polls it
    busy = client.post("/admin/configuration/checks", follow_redirects=True)
    assert "The checks are running already" in busy.text and latest_check(engine).id == running

    with engine.begin() as conn:
        conn.execute(sa.delete(ConfigCheck).where(ConfigCheck.id == running))
    open_check(engine, "grace", now=datetime.now(UTC) - timedelta(hours=1))  # its process stopped long ago
    assert "was interrupted" in client.get("/admin/configuration").text
    client.post("/admin/configuration/checks")
    page = unescape(checks_finished(client))
    assert f"by {ADMIN}: 0 problem(s), 1 warning(s), 1 ok." in page  # no target: a warning, as check-config says
    assert findings_shown(page)["Tokens and targets"][1] == (
        "warning", "targets", "no enabled target: the bridge keeps what identity providers send and provisions "
        "no product (add one under targets:)")


def token_value(html: str) -> str:
    return html.split('id="token-value" readonly value="')[1].split('"')[0]


# alice.smith@example.com becomes asmith on the targets: a name neither her userName nor her e-mail starts with.
INITIAL_AND_SURNAME = {"username": {"regex": r"(.)[^.]*\.(.*)@.*", "replacement": "$1$2"}}


def test_people_are_found_by_username_email_or_atlassian_name_and_shown_per_target(start):
    bridge = start(rules=INITIAL_AND_SURNAME, targets=LICENCE_GROUPS, worker=False)
    alice = bridge.idp.create_user("alice.smith@example.com", "Alice Smith", email="a.smith@corp.example.com")
    bridge.drain()
    Accounts(bridge.engine).create(ADMIN, CONSOLE_PASSWORD)
    client = ConsoleClient(bridge.app)
    client.login()
    for query in ("ALICE.S", "a.smith@corp", "asmith"):
        found = client.get("/admin/people", query_string={"q": query}).text
        assert f"/admin/people/{alice}" in found, query
    for query in ("bob", "%", "smith"):
        assert "No user" in client.get("/admin/people", query_string={"q": query}).text, query

    person = client.get(f"/admin/people/{alice}").text
    assert "Alice Smith" in person and "create_user" in person and "<td>idp</td>" in person
    for target in ("jira", "confluence", "bitbucket"):
        assert f">{target}</h3>" in person
    assert "add asmith to jira-software-users" in person
    # Each call to a product names the token that asked for it, as `scim-bridge audit` does.
    assert re.search(r"<td>idp</td><td>create_user</td>", person)
    assert client.get("/admin/people/no-such-id").status_code == 404


def test_csrf_tokens_are_per_session(engine):
    app = console_app(engine)
    one, two = ConsoleClient(app), ConsoleClient(app)
    one.login()
    two.login()
    foreign = csrf_token(one.get("/admin/").text)
    assert two.http.post("/admin/problems/retry", data={"csrf_token": foreign}).status_code == 400
