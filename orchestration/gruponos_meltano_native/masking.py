"""Every way the platform hides a secret: one mask, one redactor, the URL maskers.

Secrets reach output in four shapes: a known value inside a text (log line, error, alert),
a database URL whose password is one part of it, a webhook URL whose path is the secret (an
HTTP library logs the path alone at debug level), and a `user:password@` in an HTTP URL.
The target keeps its own scrubber (it installs and runs without the orchestration).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

from sqlalchemy.engine import make_url

MASK = "********"


def with_encoded_forms(secrets: Iterable[str]) -> list[str]:
    """Return the secrets plus their URL-encoded forms (as they appear inside URLs, forms)."""
    values = [s for s in secrets if s]
    return values + [quote(s, safe="") for s in values if quote(s, safe="") != s]


class Redactor:
    """Replaces every known secret value in a text with the mask."""

    def __init__(self, secrets: Iterable[str]) -> None:
        """Mask these values (longest first, so a secret inside another is masked whole)."""
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """`text` without any secret."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text


def url_password(url: str) -> str | None:
    """Return the password inside a database URL, or None (also when it does not parse)."""
    try:
        return make_url(url).password
    except Exception:
        return None


def mask_url(url: str) -> str:
    """Return a database URL fit for display: everything but its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return MASK


def mask_http_url(url: str) -> str:
    """Return a webhook URL fit for display: its host only, since its path is the secret."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}/{MASK}" if host else MASK


def http_url_secrets(url: str) -> list[str]:
    """Return the parts of an HTTP URL that are secret on their own: path+query, password.

    A webhook's path is its token, and debug logs show it without the host; a path too
    short to be a token (`/`, `/hook`) is left out, so masking never eats ordinary text.
    """
    parts = urlsplit(url)
    secrets = [parts.password or ""]
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    if len(tail) >= 8:
        secrets.append(tail)
    return [s for s in secrets if s]


def mask_userinfo(url: str) -> str:
    """Return an HTTP URL with the password of its `user:password@` part masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=f"{parts.username}:{MASK}@{host}").geturl()


class _RedactingFilter(logging.Filter):
    """Masks secrets in every record a handler writes (any logger, any level)."""

    def __init__(self) -> None:
        super().__init__()
        self.redactors: list[Redactor] = []

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = message
        for redact in self.redactors:
            clean = redact(clean)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_LOG_FILTER = _RedactingFilter()


def redact_logs(redact: Redactor) -> None:
    """Mask `redact`'s secrets in everything this process logs, at every verbosity.

    Installed on the root logger's handlers (where `-v` sends the HTTP libraries' debug
    lines, which name request paths); redactors of several settings add up.
    """
    if redact not in _LOG_FILTER.redactors:
        _LOG_FILTER.redactors.append(redact)
    for handler in logging.getLogger().handlers:
        if _LOG_FILTER not in handler.filters:
            handler.addFilter(_LOG_FILTER)
