"""Stateful in-memory fakes of the Jira, Confluence and Bitbucket Data Center REST APIs and of Crowd.

They answer the user, group, membership, licence and version resources an admin-sync client uses
with each product's paths, status codes and error bodies (``docs/products.md``), and can add
latency, failures and 429s on request. Start them in-process::

    from atlassian_clients.fakes import start_fakes

    with start_fakes() as fakes:
        fakes.jira.add_user("alice", "Alice Example", "alice@example.com")
        base = fakes.base_url("jira")                      # http://127.0.0.1:<port>/jira
        fakes.bitbucket.knobs.throttle(times=1, retry_after=2)
        ...
        assert fakes.jira.calls.applied("POST", "/rest/api/2/user") == 1

or from a shell: ``python -m atlassian_clients.fakes --port 8990`` (admin / admin), then read
``/_fake/state`` for the state of all four.
"""

from atlassian_clients.fakes.bitbucket import FakeBitbucket
from atlassian_clients.fakes.confluence import FakeConfluence
from atlassian_clients.fakes.crowd import FakeCrowd
from atlassian_clients.fakes.jira import FakeJira
from atlassian_clients.fakes.server import (
    PRODUCTS,
    FakeProducts,
    RunningFakes,
    create_products,
    create_wsgi_app,
    start_fakes,
)

__all__ = [
    "PRODUCTS",
    "FakeBitbucket",
    "FakeConfluence",
    "FakeCrowd",
    "FakeJira",
    "FakeProducts",
    "RunningFakes",
    "create_products",
    "create_wsgi_app",
    "start_fakes",
]
