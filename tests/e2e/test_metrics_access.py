"""``metrics.access`` (config.yaml): /metrics open by default, or only with the metrics token, or only
with a SCIM token; a refusal is a SCIM 401 that shows no metric. /healthz and /readyz stay open."""

from __future__ import annotations

import hashlib

import pytest

from scim_bridge.auth import create_token
from scim_bridge.errors import ConfigError
from tests.support.bridge import TOKEN, bridge_app

METRICS_TOKEN = "metrics-scrape-token-0123456789"


def _get(app, path, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return app.test_client().get(path, headers=headers)


def _refused(response) -> bool:
    return (response.status_code == 401 and response.json["status"] == "401"
            and "scim_bridge_" not in response.get_data(as_text=True)
            and response.headers["WWW-Authenticate"].startswith("Bearer"))


def test_metrics_are_open_by_default(engine):
    opened = _get(bridge_app(engine), "/metrics")
    assert opened.status_code == 200 and "scim_bridge_requests" in opened.get_data(as_text=True)


@pytest.mark.parametrize("setting", [{"token": METRICS_TOKEN},
                                     {"token_sha256": hashlib.sha256(METRICS_TOKEN.encode()).hexdigest()}])
def test_a_metrics_token_is_the_only_key_to_the_metrics(engine, setting):
    app = bridge_app(engine, metrics={"access": "token", **setting})
    assert _get(app, "/metrics", METRICS_TOKEN).status_code == 200
    assert "scim_bridge_requests" in _get(app, "/metrics", METRICS_TOKEN).get_data(as_text=True)
    for other in (None, TOKEN, "wrong-token"):
        assert _refused(_get(app, "/metrics", other))
    # The metrics token is no SCIM token, and the probes stay open.
    assert _get(app, "/scim/v2/Users", METRICS_TOKEN).status_code == 401
    assert _get(app, "/healthz").status_code == 200 and _get(app, "/readyz").status_code == 200


def test_scim_access_takes_configured_and_stored_scim_tokens(engine):
    app = bridge_app(engine, metrics={"access": "scim"})
    stored = create_token(engine, "okta").value
    assert _get(app, "/metrics", TOKEN).status_code == 200
    assert _get(app, "/metrics", stored).status_code == 200
    assert _refused(_get(app, "/metrics"))
    assert _refused(_get(app, "/metrics", "not-a-token-at-all"))


@pytest.mark.parametrize("metrics, message", [
    ({"access": "token"}, "needs exactly one of metrics.token or metrics.token_sha256"),
    ({"access": "token", "token": METRICS_TOKEN, "token_sha256": "a" * 64}, "needs exactly one"),
    ({"token": METRICS_TOKEN}, "a metrics token is set but metrics.access is 'open'"),
    ({"access": "secret"}, "metrics.access"),
    ({"access": "token", "token": "short"}, "metrics.token"),
])
def test_inconsistent_metrics_settings_stop_the_start_naming_the_key(engine, metrics, message):
    with pytest.raises(ConfigError) as raised:
        bridge_app(engine, metrics=metrics)
    assert message in str(raised.value)
    assert METRICS_TOKEN not in str(raised.value)
