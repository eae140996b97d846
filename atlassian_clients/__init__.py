"""Clients of the Jira, Confluence and Bitbucket Data Center user directories, and of Crowd.

The registry (docs/architecture.md decision 4) maps a target's ``type:`` in ``config.yaml`` to a client
class. ``jira``, ``confluence``, ``bitbucket`` and ``crowd`` ship here; a dotted path
``"package.module:Class"`` loads a client shipped elsewhere. A client class is built with
``Class.from_target(target, base_url, auth, *, http=..., session=..., sleep=..., clock=...,
wall_clock=..., **options)`` and must satisfy :class:`DirectoryClient`; subclassing
:class:`atlassian_clients.product.ProductClient` gives a plug-in the shared HTTP policy. A class
declares the options a target may give it (``targets.<name>.options``) as ``Options``, a frozen
dataclass extending :class:`ClientOptions` (``options.py``); a class without one takes none.

Typical use by the delivery layer::

    client = build_client("jira-prod", "jira", "https://jira.example.com", BasicAuth("svc", secret),
                          page_size=50)
    creation = client.create_user("jdoe", "Jane Doe", "jdoe@example.com")
"""

from __future__ import annotations

import pkgutil
from typing import Any

from atlassian_clients.base import (
    ApplicationRole,
    AtlassianError,
    AuthFailed,
    Capabilities,
    Conflict,
    Creation,
    DirectoryClient,
    LicenceLimit,
    NotFound,
    PermissionDenied,
    ProductInfo,
    RateLimited,
    Rejected,
    RemoteGroup,
    RemoteUser,
    Seats,
    Unavailable,
    Unsupported,
    UserDirectory,
    WrongEndpoint,
)
from atlassian_clients.bitbucket import BitbucketClient, BitbucketOptions
from atlassian_clients.confluence import ConfluenceClient, ConfluenceOptions
from atlassian_clients.crowd import CrowdClient, CrowdOptions
from atlassian_clients.http import BasicAuth, HttpSettings, TokenAuth, Transport
from atlassian_clients.jira import JiraClient, JiraOptions
from atlassian_clients.options import ClientOptions

CLIENT_TYPES: dict[str, type] = {
    "jira": JiraClient,
    "confluence": ConfluenceClient,
    "bitbucket": BitbucketClient,
    "crowd": CrowdClient,
}


class UnknownClientType(ValueError):
    """A target's ``type:`` names no shipped client and no importable ``module:Class``."""


def client_class(type_name: str) -> type:
    """The class for a target ``type:``: a shipped name, or ``"package.module:Class"``."""
    if type_name in CLIENT_TYPES:
        return CLIENT_TYPES[type_name]
    if ":" not in type_name:
        known = ", ".join(sorted(CLIENT_TYPES))
        raise UnknownClientType(f"unknown target type {type_name!r}: use one of {known}, or 'package.module:Class'")
    try:
        found = pkgutil.resolve_name(type_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise UnknownClientType(f"cannot load client {type_name!r}: {exc}") from exc
    if not isinstance(found, type) or not callable(getattr(found, "from_target", None)):
        raise UnknownClientType(f"{type_name!r} is not a client class with a from_target() constructor")
    return found


def build_client(
    target: str, type_name: str, base_url: str, auth: BasicAuth | TokenAuth, **options: Any
) -> DirectoryClient:
    """A ready client for one target.

    ``options`` are passed to ``from_target``: the HTTP ones (``http=HttpSettings(...)``,
    ``session``, ``sleep``, ``clock``, ``wall_clock``) and the fields of the class's ``Options``
    (:class:`JiraOptions`, :class:`ConfluenceOptions`, :class:`BitbucketOptions`,
    :class:`CrowdOptions`; Jira also takes
    ``application_keys``).
    """
    return client_class(type_name).from_target(target, base_url, auth, **options)


__all__ = [
    "CLIENT_TYPES",
    "ApplicationRole",
    "AtlassianError",
    "AuthFailed",
    "BasicAuth",
    "BitbucketClient",
    "BitbucketOptions",
    "Capabilities",
    "ClientOptions",
    "ConfluenceClient",
    "ConfluenceOptions",
    "Conflict",
    "Creation",
    "CrowdClient",
    "CrowdOptions",
    "DirectoryClient",
    "HttpSettings",
    "JiraClient",
    "JiraOptions",
    "LicenceLimit",
    "Seats",
    "NotFound",
    "PermissionDenied",
    "ProductInfo",
    "RateLimited",
    "Rejected",
    "RemoteGroup",
    "RemoteUser",
    "TokenAuth",
    "Transport",
    "Unavailable",
    "UnknownClientType",
    "Unsupported",
    "UserDirectory",
    "WrongEndpoint",
    "build_client",
    "client_class",
]
