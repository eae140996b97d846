"""Every path that can change a product, run on a target in ``dry_run``: not one mutating call.

The client refuses (and logs) any mutating call, so a path that bypasses the executor fails here
whichever layer would swallow the exception. The paths together must plan every mutating operation
class there is: a new class without a path that plans it here fails the last assertion, and a new
mutating path belongs in ``PATHS``.
"""

from __future__ import annotations

import sqlalchemy as sa

from scim_bridge.store.models import AuditEntry, Base, OutboxRow
from scim_bridge.sync.outbox import Outbox
from scim_bridge.sync.reconcile import reconcile
from scim_bridge.sync.records import DeliveryRecords
from tests.support.memory_bridge import MemoryBridge
from tests.support.memory_client import BITBUCKET_LIKE, JIRA_LIKE, MemoryDirectory
from tests.unit.test_operations import all_operation_classes


def _linked(bridge, resource_type, resource_id, **applied):
    DeliveryRecords(bridge.engine).record_outcome(resource_type, resource_id, "jira", status="ok", applied=applied)


def new_user_in_a_group_and_a_missing_default_group(bridge):
    alice = bridge.create_user("alice")
    bridge.create_group("Dev Team", alice)
    bridge.settle()


def existing_account_linked_by_email_renamed_updated_deactivated(bridge):
    bridge.client.seed_user("ally", "Ally", "alice@example.com")
    bridge.create_user("alice", "Alice Smith", active=False)
    bridge.settle()


def licence_revoked_and_granted_where_accounts_cannot_be_deactivated(bridge):
    bridge.client.seed_user("bob")
    bridge.client.seed_user("carol")
    bridge.create_user("bob", active=False)
    carol = bridge.create_user("carol")
    _linked(bridge, "User", carol, name="carol", active=False)  # deactivated by an earlier delivery
    bridge.settle()


def deleted_user_with_on_delete_delete(bridge):
    bridge.client.seed_user("dave")
    dave = bridge.create_user("dave")
    _linked(bridge, "User", dave, name="dave", active=True)
    assert bridge.scim.delete(f"/Users/{dave}").status == 204
    bridge.settle()


def leaver_leading_a_project_and_a_component_handed_to_the_default_lead(bridge):
    bridge.client.seed_user("hank")
    bridge.client.seed_user("lead")
    bridge.client.seed_project("ABC", "hank", {"Backend": "hank"})
    hank = bridge.create_user("hank", active=False)
    _linked(bridge, "User", hank, name="hank", active=True)
    bridge.settle()


def group_renamed_members_moved(bridge):
    bridge.client.seed_user("erin", groups=("Old",))
    erin = bridge.create_user("erin")
    old = bridge.create_group("Old", erin)
    _linked(bridge, "User", erin, name="erin", active=True, groups=["Old"])
    _linked(bridge, "Group", old, name="Old")
    reply = bridge.scim.patch(f"/Groups/{old}", [{"op": "replace", "path": "displayName", "value": "New"}])
    assert reply.status in (200, 204), reply.body
    bridge.settle()


def group_deleted_with_groups_delete(bridge):
    bridge.client.seed_group("Gone")
    gone = bridge.create_group("Gone")
    _linked(bridge, "Group", gone, name="Gone")
    assert bridge.scim.delete(f"/Groups/{gone}").status == 204
    bridge.settle()


def reconcile_queues_drift(bridge):
    bridge.client.seed_user("frank")  # left out of its group behind the bridge's back
    bridge.client.seed_group("Ops")
    frank = bridge.create_user("frank")
    bridge.create_group("Ops", frank)
    _linked(bridge, "User", frank, name="frank", active=True, groups=["Ops"])
    bridge.settle()
    reconcile(bridge.sync, dry_run=False)
    bridge.settle()


def reconcile_deactivates_unmanaged_accounts(bridge):
    bridge.client.seed_user("mallory", groups=("stash-users",))
    reports = reconcile(bridge.sync, dry_run=False, deactivate_unmanaged=True)
    assert reports[0].unmanaged == ["mallory"] and reports[0].deactivated == []
    bridge.settle()


def retry_of_parked_rows(bridge):
    bridge.create_user("gina")
    with bridge.engine.begin() as conn:
        conn.execute(sa.update(OutboxRow).values(state="parked", last_error="refused earlier"))
    assert Outbox(bridge.engine, owner="cli").requeue_parked() == 1  # scim-bridge retry
    bridge.settle()


# (path, client capabilities, global rules, the target's rules besides dry_run)
PATHS = [
    (new_user_in_a_group_and_a_missing_default_group, JIRA_LIKE, {}, {"default_groups": ["all-staff"]}),
    (existing_account_linked_by_email_renamed_updated_deactivated, JIRA_LIKE,
     {"users": {"match_existing": "email"}}, {}),
    (licence_revoked_and_granted_where_accounts_cannot_be_deactivated, BITBUCKET_LIKE, {}, {}),
    (deleted_user_with_on_delete_delete, JIRA_LIKE, {"users": {"on_delete": "delete"}}, {}),
    (leaver_leading_a_project_and_a_component_handed_to_the_default_lead, JIRA_LIKE,
     {"handover": {"default_lead": "lead"}}, {}),
    (group_renamed_members_moved, JIRA_LIKE, {}, {}),
    (group_deleted_with_groups_delete, JIRA_LIKE, {"groups": {"delete": True}}, {}),
    (reconcile_queues_drift, JIRA_LIKE, {}, {}),
    (reconcile_deactivates_unmanaged_accounts, JIRA_LIKE, {}, {}),
    (reconcile_deactivates_unmanaged_accounts, BITBUCKET_LIKE, {}, {"default_groups": ["stash-users"]}),
    (retry_of_parked_rows, JIRA_LIKE, {}, {}),
]


def test_no_path_makes_a_mutating_call_on_a_dry_run_target_and_together_they_plan_every_operation(engine):
    by_action = {cls.action: cls for cls in all_operation_classes()}
    planned_classes = set()
    for path, capabilities, rules, target_rules in PATHS:
        Base.metadata.drop_all(engine)
        Base.metadata.create_all(engine)
        client = MemoryDirectory(capabilities=capabilities)
        client.forbid_mutations = True
        bridge = MemoryBridge(engine, client, rules=rules, target_rules={**target_rules, "dry_run": True})
        try:
            path(bridge)
        finally:
            bridge.stop()
        assert client.forbidden == [] and client.mutations() == [], path.__name__
        with engine.connect() as conn:
            query = sa.select(AuditEntry.action, AuditEntry.outcome).where(AuditEntry.scope == "jira")
            rows = conn.execute(query).all()
        assert rows and {outcome for _, outcome in rows} <= {"planned", "skipped"}, (path.__name__, rows)
        planned_classes |= {by_action[action] for action, outcome in rows if outcome == "planned"}
    mutating = {cls for cls in all_operation_classes() if cls.mutates}
    assert mutating - planned_classes == set(), "mutating operations no dry-run path plans"
