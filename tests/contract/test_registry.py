"""The registry: a target's ``type:`` picks a shipped client or loads one from ``module:Class``."""

from __future__ import annotations

import pytest

from atlassian_clients import (
    BasicAuth,
    BitbucketClient,
    ConfluenceClient,
    CrowdClient,
    DirectoryClient,
    HttpSettings,
    JiraClient,
    UnknownClientType,
    build_client,
    client_class,
)
from atlassian_clients.bitbucket import BitbucketClient as ShippedBitbucket

AUTH = BasicAuth("svc", "pw")


class PluginClient(ShippedBitbucket):
    """Stands for a client shipped in another package, loaded by dotted path."""


@pytest.mark.parametrize(
    ("type_name", "cls"),
    [("jira", JiraClient), ("confluence", ConfluenceClient), ("bitbucket", BitbucketClient), ("crowd", CrowdClient)],
)
def test_shipped_types(type_name, cls):
    client = build_client("prod", type_name, "https://atlassian.example.com/x/", AUTH, http=HttpSettings(deadline=5))

    assert type(client) is cls
    assert isinstance(client, DirectoryClient)
    assert client.target == "prod"
    assert client.http.base_url == "https://atlassian.example.com/x"
    assert client.http.settings.deadline == 5


def test_product_options_reach_the_client():
    jira = build_client("j", "jira", "http://h/jira", AUTH, application_keys=("jira-core",), page_size=7)
    bitbucket = build_client("b", "bitbucket", "http://h", AUTH, add_to_default_group=False)
    crowd = build_client("c", "crowd", "http://h/crowd", AUTH, group_description="from Okta")

    assert jira.application_keys == ("jira-core",) and jira.page_size == 7
    assert bitbucket.add_to_default_group is False
    assert crowd.options.group_description == "from Okta"


def test_a_dotted_path_loads_a_client_shipped_elsewhere():
    client = build_client("plug-in", f"{__name__}:PluginClient", "http://h", AUTH)

    assert type(client) is PluginClient
    assert client_class(f"{__name__}:PluginClient") is PluginClient


@pytest.mark.parametrize(
    ("type_name", "message"),
    [
        ("jria",
         "unknown target type 'jria': use one of bitbucket, confluence, crowd, jira, or 'package.module:Class'"),
        ("no_such_module_x:Client", "cannot load client 'no_such_module_x:Client'"),
        (f"{__name__}:Missing", f"cannot load client '{__name__}:Missing'"),
        (f"{__name__}:AUTH", "is not a client class with a from_target() constructor"),
    ],
)
def test_unknown_types_say_what_is_accepted(type_name, message):
    with pytest.raises(UnknownClientType, match=message.replace("(", r"\(").replace(")", r"\)")):
        client_class(type_name)
