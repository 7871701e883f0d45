"""Every way the platform hides a secret: one mask, one redactor, the URL maskers.

Secrets reach output in three shapes: a known value inside a text (log line, error, alert),
a database URL whose password is one part of it, and a webhook URL whose path is the secret.
The target keeps its own scrubber (it installs and runs without the orchestration).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

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
