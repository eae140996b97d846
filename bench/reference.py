"""The reference server of benchmark 7: PyPI's ``scim2-server``, in memory, built as its own
``scim2-server`` command builds it (RFC 7643 schemas, User and Group, every feature its default
configuration announces, one bearer token), but served by gunicorn with the bridge's worker settings
instead of the command's ``wsgiref`` server, so that both servers stand behind the same HTTP server.

    SCIM2_SERVER_TOKEN=... gunicorn -w 1 --threads 4 bench.reference:app
"""

from __future__ import annotations

import os

from scim2_models import ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.utils import load_default_resource_types, load_default_schemas, load_default_service_provider_config


def build_app() -> BearerTokenApplication:
    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(load_default_schemas().values(), load_default_resource_types().values(),
                                           config=config)
    service = ScimService(provider, secret=os.environ.get("SCIM2_SERVER_SECRET") or "bench-cursor-secret")
    return BearerTokenApplication(InMemoryStorage(), provider, service=service,
                                  bearer_tokens=[os.environ["SCIM2_SERVER_TOKEN"]])


def __getattr__(name: str):
    if name == "app":
        value = build_app()
        globals()["app"] = value
        return value
    raise AttributeError(name)
