"""Bearer tokens: configured or stored, hashed, several per name, expiring, revocable by id or name."""

from datetime import timedelta

import pytest

from scim_bridge.auth import (
    InvalidTokenName,
    KnownToken,
    TokenVerifier,
    create_token,
    list_tokens,
    revoke_token,
    revoke_token_id,
    stored_tokens,
    token_hash,
)
from scim_bridge.config import TokenSettings
from scim_bridge.errors import Unauthorized
from scim_bridge.store.models import utcnow


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_configured_tokens_name_the_connection():
    verifier = TokenVerifier([KnownToken("okta", token_hash("o" * 32)), KnownToken("entra", token_hash("e" * 32))],
                             lambda: [])
    assert verifier.verify("Bearer " + "e" * 32) == "entra"
    assert verifier.verify("bearer   " + "o" * 32) == "okta"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic b2s6b2s=", "Bearer wrong", "non-token"])
def test_anything_else_is_unauthorized_with_a_challenge(header):
    verifier = TokenVerifier([KnownToken("okta", token_hash("o" * 32))], lambda: [])
    with pytest.raises(Unauthorized) as raised:
        verifier.verify(header)
    assert raised.value.headers["WWW-Authenticate"].startswith("Bearer")
    assert "o" * 32 not in raised.value.detail


def test_stored_tokens_are_created_once_revoked_and_reread_after_the_ttl(engine):
    clock = Clock()
    verifier = TokenVerifier([], lambda: stored_tokens(engine), clock=clock)
    value = create_token(engine, "onelogin").value
    assert verifier.verify(f"Bearer {value}") == "onelogin"
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("select sha256 from api_tokens").scalar()
    assert stored == token_hash(value) and value not in stored
    assert revoke_token(engine, "onelogin") and not revoke_token(engine, "onelogin")
    # Stored tokens are re-read at most every 5 s (docs/architecture.md): a revocation takes
    # effect within those seconds, not at once and not later.
    clock.now += 4.9
    assert verifier.verify(f"Bearer {value}") == "onelogin"
    clock.now += 0.2
    with pytest.raises(Unauthorized):
        verifier.verify(f"Bearer {value}")


def test_a_name_holds_several_tokens_and_one_is_revoked_by_id_without_touching_the_other(engine):
    clock = Clock()
    verifier = TokenVerifier([], lambda: stored_tokens(engine), clock=clock)
    old, new = create_token(engine, "okta"), create_token(engine, "okta")
    assert old.id != new.id and old.value != new.value
    assert verifier.verify(f"Bearer {old.value}") == verifier.verify(f"Bearer {new.value}") == "okta"

    assert revoke_token_id(engine, old.id) == "okta"
    assert revoke_token_id(engine, old.id) is None  # already revoked
    clock.now += 5.1
    with pytest.raises(Unauthorized):
        verifier.verify(f"Bearer {old.value}")
    assert verifier.verify(f"Bearer {new.value}") == "okta"
    # Revoked names take new tokens (the old one-token-per-name store refused them).
    again = create_token(engine, "okta")
    assert revoke_token(engine, "okta") == 2  # by name: every active one
    clock.now += 5.1
    for token in (new, again):
        with pytest.raises(Unauthorized):
            verifier.verify(f"Bearer {token.value}")


def test_an_expired_token_stops_working_even_while_the_stored_tokens_are_cached(engine):
    clock, now = Clock(), [utcnow()]
    verifier = TokenVerifier([], lambda: stored_tokens(engine), clock=clock, now=lambda: now[0])
    issued = create_token(engine, "entra", timedelta(days=30))
    assert issued.expires_at - utcnow() > timedelta(days=29, hours=23)
    assert verifier.verify(f"Bearer {issued.value}") == "entra"
    now[0] = issued.expires_at + timedelta(seconds=1)
    with pytest.raises(Unauthorized):
        verifier.verify(f"Bearer {issued.value}")
    # Stored tokens read after the expiry leave it out altogether.
    expired = create_token(engine, "entra", timedelta(seconds=-1))
    assert token_hash(expired.value) not in {t.sha256 for t in stored_tokens(engine)}


@pytest.mark.parametrize("name", ["", " ", "has space", "a/b", "x" * 65, "ümlaut", "new\nline"])
def test_token_names_follow_the_configuration_pattern(engine, name):
    with pytest.raises(InvalidTokenName):
        create_token(engine, name)
    with pytest.raises(InvalidTokenName):
        revoke_token(engine, name)
    assert list_tokens(engine, []) == []


def test_the_list_shows_configured_tokens_without_value_or_hash_and_the_state_of_stored_ones(engine):
    configured = [TokenSettings(name="okta", value="o" * 32)]
    active = create_token(engine, "okta")
    revoked = create_token(engine, "okta")
    revoke_token_id(engine, revoked.id)
    expired = create_token(engine, "entra", timedelta(seconds=-1))
    listed = [(e.name, e.source, e.state, e.id) for e in list_tokens(engine, configured)]
    assert listed == [("entra", "database", "expired", expired.id), ("okta", "config", "active", None),
                      ("okta", "database", "active", active.id), ("okta", "database", "revoked", revoked.id)]
    shown = repr(list_tokens(engine, configured))
    assert "o" * 32 not in shown and token_hash("o" * 32) not in shown and active.value not in shown
