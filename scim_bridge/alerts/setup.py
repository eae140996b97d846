"""Building the alerts from the configuration."""

from __future__ import annotations

from scim_bridge.alerts.dispatch import Alerts
from scim_bridge.alerts.senders import SmtpSender, WebhookSender
from scim_bridge.config import Settings

SCIM_PATH = "/scim/v2"
CONSOLE_PROBLEMS = "/admin/problems"


def console_url(base_url: str | None) -> str | None:
    """The console's problems page, beside the SCIM API whose public URL is ``server.base_url``."""
    if base_url is None:
        return None
    root = base_url.rstrip("/")
    if root.endswith(SCIM_PATH):
        root = root[: -len(SCIM_PATH)]
    return root + CONSOLE_PROBLEMS


def build_alerts(config: Settings, **options) -> Alerts | None:
    """None when no channel is configured. ``options`` go to :class:`Alerts` (a clock, retry pause)."""
    alerts = config.alerts
    senders: list = []
    if alerts.webhook.url is not None:
        senders.append(WebhookSender(alerts.webhook))
    if alerts.smtp.host is not None:
        senders.append(SmtpSender(alerts.smtp))
    if not senders:
        return None
    return Alerts(senders, batch_seconds=alerts.batch_seconds,
                  unreachable_after_seconds=alerts.unreachable_after_seconds, seats_share=alerts.seats_share,
                  console=console_url(config.server.base_url), **options)
