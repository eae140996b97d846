"""The HTTP policy reads the environment's proxy and CA-bundle settings once per target, and honours
them: an administrator behind a corporate proxy sets HTTPS_PROXY (and NO_PROXY) as for any tool."""

from __future__ import annotations

from atlassian_clients import BasicAuth
from atlassian_clients.http import Transport
from atlassian_clients.jira import JiraClient


def transport(url: str) -> Transport:
    return Transport("jira", url, BasicAuth("admin", "secret"), JiraClient.PROFILE)


def test_a_proxy_set_in_the_environment_carries_the_calls_to_the_target(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = transport("https://jira.corp.example/jira")._session
    assert session.proxies.get("https") == "http://proxy.corp.example:3128"


def test_a_target_named_in_no_proxy_is_called_directly(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.setenv("NO_PROXY", "jira.corp.example")
    assert not transport("https://jira.corp.example/jira")._session.proxies


def test_a_ca_bundle_named_in_the_environment_verifies_the_target(monkeypatch, tmp_path):
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("", encoding="utf-8")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    assert transport("https://jira.corp.example/jira")._session.verify == str(bundle)
