"""scim-bridge: a SCIM 2.0 service provider that provisions Jira, Confluence and Bitbucket.

``create_app`` (``scim_bridge.application``) is imported on first use, not with the package: the
command line imports only what its command needs, and the app pulls in Flask, the console, the
delivery side and the products' clients (about half of a command's start-up time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scim_bridge.application import create_app, setup_engine

__all__ = ["create_app", "setup_engine"]


def __getattr__(name: str):
    if name in __all__:
        from scim_bridge import application

        return getattr(application, name)
    raise AttributeError(f"module 'scim_bridge' has no attribute {name!r}")
