"""Bearer tokens: configured or stored, hashed, revocable."""

import pytest

from scim_bridge.auth import KnownToken, TokenVerifier, create_token, revoke_token, token_hash
from scim_bridge.errors import Unauthorized


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
    from scim_bridge.auth import stored_tokens

    verifier = TokenVerifier([], lambda: stored_tokens(engine), clock=clock)
    value = create_token(engine, "onelogin")
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
