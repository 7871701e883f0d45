"""The SDK fence: the only module that touches singer-sdk's private names.

The tap writes RECORD lines itself and keeps its own bookmark, so it hooks into a few
private `Stream` methods and reads attributes the SDK's `Stream.__init__` sets; and it
checks its scope before a sync through `FencedTap.before_sync`, without overriding
`Tap.sync_all` (which the SDK declares final). `FencedStream` turns the private stream
hooks into public methods the tap's streams implement (`STREAM_HOOKS`); nothing else in the
package uses a private SDK name. The private names are listed here and checked when the tap
is imported, so an SDK release that renamed one stops the tap at start-up with a message
naming it, never half way through a sync. pyproject.toml pins singer-sdk to
`TESTED_SERIES`.
"""

from __future__ import annotations

import inspect
import re
import typing as t
from collections.abc import Iterable, Mapping, Sequence

from singer_sdk import Tap
from singer_sdk.streams import Stream

from tap_oracle_wms.errors import IncompatibleSDKError

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context
    from singer_sdk.io_base import GenericSingerWriter

TESTED_SERIES = "0.54"

# Private `Stream` hooks the SDK calls -> the public methods of `FencedStream` they run.
STREAM_HOOKS: dict[str, str] = {
    "_write_schema_message": "write_schema",
    "_write_record_message": "write_record",
    "_process_record": "process_record",
    "_increment_stream_state": "track_record",
    "_write_state_message": "write_state",
    "_write_activate_version_message": "write_activate_version",
}
# Methods the tap overrides or calls, per SDK class.
PRIVATE_METHODS: dict[type, tuple[str, ...]] = {
    Stream: tuple(STREAM_HOOKS),
    Tap: ("_reset_state_progress_markers",),
}
# Attributes the SDK's constructor sets, which the tap reads.
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
        own_init = vars(cls).get("__init__")  # the class's own constructor, not a base's
        constructor = inspect.getsource(own_init) if own_init is not None else ""
        missing += [
            f"{cls.__name__}.{name}"
            for name in names
            if not re.search(rf"self\.{re.escape(name)}\b\s*[:=]", constructor)
        ]
    if missing:
        _fail(missing)


check()


class FencedTap(Tap):
    """`Tap` with a `before_sync` hook, so no subclass needs to override `sync_all`.

    The SDK's `sync_all` (final) starts by clearing old progress markers, a private step
    listed in `PRIVATE_METHODS`; `before_sync` runs just before it, so before any stream is
    synced and before any message is written.
    """

    def before_sync(self) -> None:
        """Run at the start of a sync, before any message (nothing by default)."""

    def _reset_state_progress_markers(self) -> None:
        self.before_sync()
        super()._reset_state_progress_markers()


class FencedStream(Stream):
    """`Stream` whose private hooks run public methods of the subclass.

    Subclasses override `write_schema`, `write_record`, `process_record`, `track_record`,
    `write_state` and `write_activate_version` (the defaults do what the SDK does) and
    reach the SDK's own state through `stream_version` and `message_writer`. Each private
    hook is the public method itself (bound per subclass, see `STREAM_HOOKS`), so the
    record path pays no extra call.
    """

    def __init_subclass__(cls, **kwargs: t.Any) -> None:
        """Point the SDK's private hooks at this class's public methods."""
        super().__init_subclass__(**kwargs)
        for private, public in STREAM_HOOKS.items():
            setattr(cls, private, getattr(cls, public))

    # What subclasses implement (the SDK's behaviour by default) ---------------------------

    def write_schema(self) -> None:
        """Write the stream's SCHEMA message."""
        Stream._write_schema_message(self)

    def write_record(self, record: dict) -> None:
        """Write one RECORD message (through the stream maps)."""
        Stream._write_record_message(self, record)

    def process_record(
        self,
        record: dict,
        child_context: Context | None = None,
        partition_context: Context | None = None,
    ) -> None:
        """Handle one record after it was written (child streams, partition context)."""
        Stream._process_record(self, record, child_context, partition_context)

    def track_record(self, latest_record: dict, *, context: Context | None = None) -> None:
        """Update the stream's state (bookmark) for one record written."""
        Stream._increment_stream_state(self, latest_record, context=context)

    def write_state(self) -> None:
        """Write a STATE message if the state changed since the last one."""
        Stream._write_state_message(self)

    def write_activate_version(self, full_table_version: int) -> None:
        """Write an ACTIVATE_VERSION message."""
        Stream._write_activate_version_message(self, full_table_version)

    # The SDK's state, for subclasses --------------------------------------------------------

    @property
    def stream_version(self) -> int | None:
        """The version RECORDs carry in a full-table sync (None otherwise)."""
        version: int | None = self._stream_version
        return version

    @stream_version.setter
    def stream_version(self, value: int | None) -> None:
        self._stream_version = value

    @property
    def message_writer(self) -> GenericSingerWriter[t.Any, t.Any]:
        """The tap's message writer."""
        writer: GenericSingerWriter[t.Any, t.Any] = self._tap.message_writer
        return writer
