"""Where a message goes: a webhook (JSON, or Slack/Teams ``{"text": ...}``) and e-mail over SMTP.

A sender raises on failure; the dispatcher retries and logs. Nothing here logs: an exception's
message may carry the webhook URL (a Slack URL is its secret) or the SMTP server's answer.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

import requests

from scim_bridge.alerts.batch import Message
from scim_bridge.config import SmtpSettings, WebhookSettings


class WebhookSender:
    name = "webhook"

    def __init__(self, settings: WebhookSettings, session: requests.Session | None = None):
        self.settings = settings
        self.session = session or requests.Session()

    def body(self, message: Message) -> dict:
        if self.settings.format == "slack":
            return {"text": f"*{message.subject}*\n{message.text}"}
        return message.details | {"subject": message.subject, "text": message.text}

    def send(self, message: Message) -> None:
        reply = self.session.post(self.settings.url, json=self.body(message), timeout=self.settings.timeout,
                                  allow_redirects=False)
        reply.raise_for_status()


class SmtpSender:
    name = "smtp"

    def __init__(self, settings: SmtpSettings):
        self.settings = settings

    def send(self, message: Message) -> None:
        s = self.settings
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = s.sender
        mail["To"] = ", ".join(s.to)
        mail.set_content(message.text)
        with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as smtp:
            if s.starttls:
                # smtplib's own default context checks no certificate: the login must not go to anyone.
                smtp.starttls(context=ssl.create_default_context())
            if s.username is not None:
                smtp.login(s.username, s.password)
            smtp.send_message(mail)
