"""The SDK fence: the private singer-sdk names the tap relies on, checked at import.

The tap writes RECORD lines itself and keeps its own bookmark, so its stream class
overrides a few private `Stream` methods and reads attributes the SDK's `Stream.__init__`
sets. They are listed here and checked when the tap is imported, so an SDK release that
renamed one stops the tap at start-up with a message naming it, never half way through a
sync. pyproject.toml pins singer-sdk to `TESTED_SERIES`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Mapping, Sequence

from singer_sdk.streams import Stream

from tap_oracle_wms.errors import IncompatibleSDKError

TESTED_SERIES = "0.54"

# Methods the tap's stream class overrides or calls.
PRIVATE_METHODS: dict[type, tuple[str, ...]] = {
    Stream: (
        "_write_schema_message",
        "_write_record_message",
        "_process_record",
        "_increment_stream_state",
        "_write_state_message",
        "_write_activate_version_message",
    ),
}
# Attributes the SDK's constructor sets, which the stream class reads.
PRIVATE_ATTRIBUTES: dict[type, tuple[str, ...]] = {
    Stream: ("_stream_version", "_tap"),
}


def _sdk_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("singer-sdk")
    except PackageNotFoundError:  # pragma: no cover - the SDK is a dependency
        return "unknown"


def _fail(missing: Sequence[str]) -> None:
    major, minor = TESTED_SERIES.split(".")
    msg = (
        f"needs singer-sdk {TESTED_SERIES}.x, but the installed singer-sdk "
        f"{_sdk_version()} lacks {', '.join(missing)}; install the tested series: "
        f'pip install "singer-sdk>={TESTED_SERIES},<{major}.{int(minor) + 1}"'
    )
    raise IncompatibleSDKError(msg)


def check(
    methods: Mapping[type, Iterable[str]] = PRIVATE_METHODS,
    attributes: Mapping[type, Iterable[str]] = PRIVATE_ATTRIBUTES,
) -> None:
    """Raise `IncompatibleSDKError` naming every listed name the SDK no longer has.

    Attributes are looked for where the class's constructor assigns them, so the check
    needs no instance (and no settings).
    """
    missing = [
        f"{cls.__name__}.{name}"
        for cls, names in methods.items()
        for name in names
        if not callable(getattr(cls, name, None))
    ]
    for cls, names in attributes.items():
        constructor = inspect.getsource(cls.__init__)
        missing += [
            f"{cls.__name__}.{name}"
            for name in names
            if not re.search(rf"self\.{re.escape(name)}\b\s*[:=]", constructor)
        ]
    if missing:
        _fail(missing)


check()
