"""Alerts on a failed run, a failed check and on recovery: webhook, Slack and e-mail.

Each alert names the job, company, facility, what failed and the error, with every known secret
masked. Alerts below `min_severity` are not sent. The same kind of alert for the same
job/company/facility is sent at most once per `cooldown_minutes`; the memory of what was sent
(`alert_memory`: a file, or the target database) outlives the process, so a schedule that keeps
failing does not flood anyone even though every run is a new process.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import requests

from gruponos_meltano_native.config import AlertSettings
from gruponos_meltano_native.masking import Redactor
from gruponos_meltano_native.observe.alert_memory import DatabaseAlertMemory, FileAlertMemory

log = logging.getLogger(__name__)

SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}
FAILURE = "failure"
CHECK_FAILED = "check_failed"
RECOVERY = "recovery"


@dataclass
class Alert:
    """One alert: what happened to which job, company and facility."""

    kind: str
    severity: str
    job: str
    company: str
    facility: str
    summary: str
    error: str | None = None
    environment: str = "dev"
    run_id: str | None = None
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def scope(self) -> str:
        """The job/company/facility this alert is about."""
        return f"{self.job}/{self.company or '*'}/{self.facility or '*'}"

    @property
    def title(self) -> str:
        """A one-line subject."""
        label = {FAILURE: "FAILED", CHECK_FAILED: "CHECK FAILED", RECOVERY: "RECOVERED"}[self.kind]
        return f"[GrupoNOS {self.environment}] {label}: {self.scope} - {self.summary}"

    def text(self) -> str:
        """Return the full message body."""
        lines = [
            self.title,
            f"severity: {self.severity}",
            f"job: {self.job}",
            f"company: {self.company}",
            f"facility: {self.facility}",
            f"what: {self.summary}",
        ]
        if self.error:
            lines.append(f"error: {self.error}")
        if self.run_id:
            lines.append(f"run: {self.run_id}")
        lines.append(f"at: {self.created_at}")
        return "\n".join(lines)


Sender = Callable[[Alert], None]


class AlertManager:
    """Sends alerts to every configured channel, with severity filter and cooldown."""

    def __init__(
        self,
        settings: AlertSettings,
        state_dir: Path,
        redact: Redactor,
        memory: FileAlertMemory | DatabaseAlertMemory | None = None,
    ) -> None:
        """Use the channels `settings` configures; remember in `memory` (default: a file).

        The default file is `state_dir/alerts.json`.
        """
        self.settings = settings
        self.memory = memory or FileAlertMemory(Path(state_dir) / "alerts.json")
        self.redact = redact

    def channels(self) -> dict[str, Sender]:
        """Return the configured channels by name."""
        found: dict[str, Sender] = {}
        if self.settings.webhook_url:
            found["webhook"] = self._send_webhook
        if self.settings.slack_webhook_url:
            found["slack"] = self._send_slack
        if self.settings.smtp_host and self.settings.email_to:
            found["email"] = self._send_email
        return found

    def send(self, alert: Alert) -> list[str]:
        """Send `alert` unless filtered or cooling down; returns the channels that took it."""
        alert.summary = self.redact(alert.summary)
        alert.error = self.redact(alert.error) if alert.error else None
        with self.memory.scope(alert.scope) as scope:
            if alert.kind != RECOVERY:
                scope["failing"] = True
            if not self._due(alert, scope):
                return []
            delivered = self._deliver(alert)
            if delivered:
                scope.setdefault("last_sent", {})[alert.kind] = alert.created_at
                if alert.kind != RECOVERY:
                    scope["alerted"] = True
            return delivered

    def recovered(self, alert: Alert) -> list[str]:
        """After a good run: send the recovery alert if this scope had been failing."""
        with self.memory.scope(alert.scope) as scope:
            if not scope.get("failing"):
                return []
            alerted = scope.get("alerted", False)
            scope.clear()
        # Whoever received the failure hears about the recovery, whatever its severity.
        if not alerted:
            return []
        return self._deliver(alert)

    def _deliver(self, alert: Alert) -> list[str]:
        delivered = []
        for name, sender in self.channels().items():
            try:
                sender(alert)
                delivered.append(name)
            except Exception as exc:
                log.warning("alert channel %s failed: %s", name, self.redact(str(exc))[:300])
        return delivered

    def _due(self, alert: Alert, scope: dict[str, Any]) -> bool:
        if SEVERITY_RANK[alert.severity] < SEVERITY_RANK[self.settings.min_severity]:
            return False
        last = scope.get("last_sent", {}).get(alert.kind)
        if last is None:
            return True
        cooldown = timedelta(minutes=self.settings.cooldown_minutes)
        return datetime.fromisoformat(alert.created_at) - datetime.fromisoformat(last) >= cooldown

    def _send_webhook(self, alert: Alert) -> None:
        assert self.settings.webhook_url is not None
        payload = {**asdict(alert), "scope": alert.scope, "title": alert.title}
        _post(self.settings.webhook_url.get_secret_value(), payload, self.settings.http_timeout)

    def _send_slack(self, alert: Alert) -> None:
        assert self.settings.slack_webhook_url is not None
        fields = [
            {"type": "mrkdwn", "text": f"*{label}*\n{value}"}
            for label, value in (
                ("Job", alert.job),
                ("Company", alert.company),
                ("Facility", alert.facility),
                ("Severity", alert.severity),
            )
        ]
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": alert.summary},
                "fields": fields,
            },
        ]
        if alert.error:
            blocks.append(
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": f"```{alert.error[:2900]}```"},
                }
            )
        payload = {"text": alert.text(), "blocks": blocks}
        _post(
            self.settings.slack_webhook_url.get_secret_value(), payload, self.settings.http_timeout
        )

    def _send_email(self, alert: Alert) -> None:
        s = self.settings
        assert s.smtp_host is not None
        message = EmailMessage()
        message["Subject"] = alert.title
        message["From"] = s.email_from or (s.smtp_username or "gruponos-meltano@localhost")
        message["To"] = ", ".join(s.email_to)
        message.set_content(alert.text())
        context = ssl.create_default_context(cafile=str(s.smtp_ca_file) if s.smtp_ca_file else None)
        smtp: smtplib.SMTP
        if s.smtp_ssl:
            smtp = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
        with smtp:
            if s.smtp_starttls and not s.smtp_ssl:
                smtp.starttls(context=context)
            if s.smtp_username and s.smtp_password:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
            smtp.send_message(message)


def _post(url: str, payload: dict[str, Any], timeout: float) -> None:
    try:
        response = requests.post(url, json=payload, timeout=timeout)
    except requests.RequestException as exc:
        # The exception text may contain the URL, which is a secret for webhooks.
        raise RuntimeError(f"webhook request failed ({type(exc).__name__})") from None
    if response.status_code >= 300:
        raise RuntimeError(f"webhook answered HTTP {response.status_code}")
