"""A leaver who is the only administrator of a Confluence space or a Bitbucket project or repository:
the account goes as usual (deactivated on Confluence, unlicensed on Bitbucket), and each space and
repository it alone administers is reported, an audit entry each and a note on the link that the
console's Person page shows; nothing about them is changed (docs/products.md §3.14, §4.15). A leaver
who shares the administration with someone gets no report, and only leavers cost the extra reads.

End to end: SCIM over HTTP to the live bridge, delivery over HTTP to the fakes; the worker is off and
each test drains the outbox.
"""

from __future__ import annotations

from scim_bridge.console.accounts import Accounts
from tests.e2e.console_support import ConsoleClient
from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE_GROUPS
from tests.support.credentials import CONSOLE_PASSWORD

CONSOLE = {"console": {"secure_cookies": False}}
ALICE_ALONE = {
    "confluence": {"alice is the only administrator of space DOCS; left as it is"},
    "bitbucket": {"alice is the only administrator of repository SOLO/app; left as it is"},
}


def seed(bridge) -> None:
    """alice alone administers the space DOCS and the repository SOLO/app; she shares TEAM (with
    carol), OPS (with the administrators' group), PRJ/lib (carol administers its project) and
    SOLO/shared (with carol); carol only writes to SOLO."""
    for product in ("confluence", "bitbucket"):
        bridge.fake(product).add_user("carol", "Carol King", "carol@example.com")
    confluence, bitbucket = bridge.confluence, bridge.bitbucket
    confluence.add_space("DOCS", admins=("alice",), readers=("carol",))
    confluence.add_space("TEAM", admins=("alice", "carol"))
    confluence.add_space("OPS", admins=("alice",), admin_groups=("confluence-administrators",))
    bitbucket.add_project("SOLO", writers=("carol",))
    bitbucket.add_repository("SOLO", "app", admins=("alice",), writers=("carol",))
    bitbucket.add_repository("SOLO", "shared", admins=("alice", "carol"))
    bitbucket.add_project("PRJ", admins=("carol",))
    bitbucket.add_repository("PRJ", "lib", admins=("alice",))


def permissions(bridge) -> tuple[dict, dict]:
    return bridge.confluence.space_admins(), bridge.bitbucket.resource_permissions()


def reports(bridge, user_id: str, outcome: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for row in bridge.audit(resource_id=user_id, outcome=outcome):
        if row.action == "sole_administrator":
            found.setdefault(row.scope, set()).add(row.detail)
    return found


def permission_reads(bridge) -> list[str]:
    """The calls that read spaces, projects, repositories or their permissions."""
    return [f"{e.method} {e.url}" for product in ("confluence", "bitbucket") for e in bridge.fakes.exchanges(product)
            if any(part in e.url for part in ("/space", "/projects", "/repos"))]


def joined_with_spaces_and_repositories(start, **rules):
    bridge = start(rules={**EMAIL_LOCAL_PART, **rules}, targets=LICENCE_GROUPS, worker=False, sections=CONSOLE)
    bridge.fakes.recorder.enabled = True
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    bridge.drain()
    seed(bridge)
    return bridge, alice


def test_a_leaver_alone_administering_a_space_and_a_repository_is_reported_and_nothing_else_changes(start):
    bridge, alice = joined_with_spaces_and_repositories(start)
    bridge.idp.change_user(alice, displayName="Alice Jones")  # not a leaver: nothing read
    bridge.drain()
    assert permission_reads(bridge) == []
    before = permissions(bridge)

    bridge.idp.change_user(alice, active=False)
    bridge.drain()

    assert bridge.confluence.user("alice").active is False
    assert not bridge.bitbucket.is_licensed("alice")
    assert permissions(bridge) == before
    assert reports(bridge, alice, "skipped") == ALICE_ALONE
    links = bridge.links("User", alice)
    assert links["confluence"].status == links["bitbucket"].status == "ok"
    assert "alice was the only administrator of space DOCS: give it another administrator" in \
        links["confluence"].reason
    assert "alice was the only administrator of repository SOLO/app" in links["bitbucket"].reason
    assert reports(bridge, alice, "skipped").get("jira") is None  # Jira has no such thing to report

    Accounts(bridge.engine).create("ada", CONSOLE_PASSWORD)
    console = ConsoleClient(bridge.app)
    console.login()
    page = console.get(f"/admin/people/{alice}").text
    assert "sole_administrator" in page
    for text in (*ALICE_ALONE["confluence"], *ALICE_ALONE["bitbucket"],
                 "alice was the only administrator of space DOCS",
                 "alice was the only administrator of repository SOLO/app"):
        assert text in page


def test_a_leaver_sharing_every_administration_gets_no_report(start):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False)
    bob = bridge.idp.create_user("bob@example.com", "Bob Brown")
    bridge.drain()
    for product in ("confluence", "bitbucket"):  # alice, who alone administers DOCS and SOLO/app, stays
        bridge.fake(product).add_user("alice", "Alice Smith", "alice@example.com")
    seed(bridge)
    bridge.confluence.add_space("SHARED", admins=("bob", "carol"))
    bridge.bitbucket.add_repository("SOLO", "tools", admins=("bob", "carol"))
    before = permissions(bridge)
    bridge.fakes.recorder.enabled = True

    bridge.idp.change_user(bob, active=False)
    bridge.drain()

    # The price of the check for an ordinary leaver: the lists, and one read per space, project and
    # repository (their groups only where the leaver is the only user granted admin).
    reads = permission_reads(bridge)
    assert len([r for r in reads if "/rest/api/space" in r]) == 1 + len(bridge.confluence.spaces)
    assert len([r for r in reads if "/rest/api/latest/" in r]) == \
        2 + len(bridge.bitbucket.projects) + len(bridge.bitbucket.repositories)
    assert bridge.confluence.user("bob").active is False
    assert not bridge.bitbucket.is_licensed("bob")
    assert permissions(bridge) == before
    assert reports(bridge, bob, "skipped") == {}
    assert bridge.links("User", bob)["confluence"].reason is None


def test_a_dry_run_plans_the_reports_and_changes_nothing(start):
    dry = start(rules={**EMAIL_LOCAL_PART, "dry_run": True}, targets=LICENCE_GROUPS, worker=False)
    for product in ("confluence", "bitbucket"):  # the leaver's existing accounts
        dry.fake(product).add_user("dora", "Dora Dry", "dora@example.com")
    dry.confluence.add_space("DRY", admins=("dora",))
    dry.bitbucket.add_project("OWN")
    dry.bitbucket.add_repository("OWN", "dry", admins=("dora",))
    dora = dry.idp.create_user("dora@example.com", "Dora Dry")
    before, calls = permissions(dry), dry.mutating_calls()

    dry.idp.change_user(dora, active=False)
    dry.drain()

    assert permissions(dry) == before
    assert dry.mutating_calls() == calls
    assert reports(dry, dora, "planned") == {
        "confluence": {"dora is the only administrator of space DRY; left as it is"},
        "bitbucket": {"dora is the only administrator of repository OWN/dry; left as it is"},
    }
    assert dry.links("User", dora)["confluence"].status == "planned"


def test_when_the_product_refuses_the_read_the_leaver_still_goes_and_the_link_says_so(start):
    bridge, alice = joined_with_spaces_and_repositories(start)
    # The service account may not read a space's permissions (403): nothing can be reported.
    bridge.confluence.knobs.force_error("GET", "/rest/api/space/*/permissions", 403, count=10)

    bridge.idp.change_user(alice, active=False)
    bridge.drain()

    assert bridge.confluence.user("alice").active is False
    assert reports(bridge, alice, "skipped") == {"bitbucket": ALICE_ALONE["bitbucket"]}
    link = bridge.links("User", alice)["confluence"]
    assert link.status == "ok"
    assert "could not tell whether alice is the only administrator of a space or repository" in link.reason
