"""One account, one identity provider user: a name stays reserved while an account still has it.

After an IdP rename, the account keeps its old name until the rename is applied (Jira, Bitbucket) or
for good (Confluence cannot rename users). A new IdP user mapped to that old name must not be linked
to the renamed person's account: its write is refused with 409 naming the target, and accepted once
no account holds the name any more.
"""

from __future__ import annotations

from scim_bridge import create_app
from scim_bridge.store.repository import Repository
from scim_bridge.sync.reconcile import reconcile
from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE_GROUPS, bridge_config

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def test_a_renamed_users_old_name_is_not_given_to_a_newcomer_until_the_account_gave_it_up(start):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    bridge.drain()
    key = bridge.jira.user("alice").key
    bridge.idp.change_user(alice, userName="alice.smith@example.com")  # queued, not yet applied
    refused = bridge.idp.post("/Users", {"userName": "alice@example.com", "displayName": "Another Alice",
                                         "emails": [{"value": "alice2@example.com", "primary": True}]})
    assert refused.status == 409 and refused.body["scimType"] == "uniqueness"
    assert 'target "' in refused.body["detail"] and '"alice"' in refused.body["detail"]
    bridge.drain()
    assert bridge.jira.user("alice.smith").key == key and bridge.jira.user("alice") is None
    assert bridge.confluence.user("alice") is not None  # Confluence cannot rename: alice is still hers
    still = bridge.idp.post("/Users", {"userName": "alice@example.com", "displayName": "Another Alice",
                                       "emails": [{"value": "alice2@example.com", "primary": True}]})
    assert still.status == 409 and 'target "confluence"' in still.body["detail"]


def _restart(bridge, engine, **rules):
    app = create_app(bridge_config(bridge.fakes.url, bridge.database_url, rules={**EMAIL_LOCAL_PART, **rules},
                                   targets=LICENCE_GROUPS, worker=False), store=Repository(engine))
    return app.extensions["scim_bridge"].sync


def test_a_deletion_seen_during_a_dry_run_is_deprovisioned_once_the_dry_run_ends(start, engine):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False)
    bob = bridge.idp.create_user("bob@example.com", "Bob Jones")
    bridge.drain()
    assert bridge.jira.user("bob").active is True
    dry = _restart(bridge, engine, dry_run=True)  # the administrator tries a rule change in a dry run
    try:
        assert bridge.idp.delete(f"/Users/{bob}").status == 204  # ... and the IdP deletes bob meanwhile
        dry.worker.drain()
    finally:
        dry.stop()
    bridge.sync.stop()
    assert bridge.jira.user("bob").active is True  # a dry run applies nothing
    live = _restart(bridge, engine)
    try:
        planned = {r.target: [op.describe() for _, _, op in r.planned] for r in reconcile(live, dry_run=False)}
        assert "deactivate bob" in planned["jira"]
        live.worker.drain()
    finally:
        live.stop()
    assert bridge.jira.user("bob").active is False


def test_a_name_the_rules_make_empty_is_refused_as_an_invalid_value(start):
    """rules/ raises a RuleError; the one error boundary answers it as SCIM 400 invalidValue."""
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False)
    refused = bridge.idp.post("/Users", {"userName": "@example.com", "displayName": "Nobody"})
    assert refused.status == 400 and refused.body["scimType"] == "invalidValue"
    assert "userName '@example.com' becomes an empty" in refused.body["detail"]
    assert "username.regex" in refused.body["detail"]
    assert bridge.idp.get('/Users?filter=userName eq "@example.com"').body["totalResults"] == 0
    # In /Bulk the same error is that operation's result; the others go on.
    reply = bridge.idp.post("/Bulk", {"schemas": [BULK_REQUEST], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "empty", "data": {"userName": "@example.com"}},
        {"method": "POST", "path": "/Users", "bulkId": "ann", "data": {"userName": "ann@example.com"}},
    ]})
    assert reply.status == 200
    first, second = reply.body["Operations"]
    assert first["status"] == "400" and first["response"]["scimType"] == "invalidValue"
    assert "becomes an empty" in first["response"]["detail"]
    assert second["status"] == "201"
