"""Alerts: messages to an administrator when deliveries are parked or a target stays unreachable.

The delivery side knows nothing of them: ``Sync`` calls an observer with each settled outcome, and
:class:`~scim_bridge.alerts.dispatch.Alerts` is that observer (docs/architecture.md, "Alerts").
"""

from scim_bridge.alerts.dispatch import Alerts
from scim_bridge.alerts.setup import build_alerts, console_url

__all__ = ["Alerts", "build_alerts", "console_url"]
