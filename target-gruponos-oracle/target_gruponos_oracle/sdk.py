"""The SDK fence: the only module that touches singer-sdk's private names.

The target takes messages straight from the SDK's reader and keeps its own batches, so it
hooks into a few private methods and attributes of singer-sdk's `Target` and `Sink`. They
are listed here and checked when this module is imported (attributes where the SDK's
constructors assign them, so no instance is needed), so an SDK release that renamed one
stops the target at start-up with a message naming it, never in the middle of a load.
`FencedSQLTarget` forwards the private hooks to public methods the target implements;
nothing else in the package uses a private SDK name. The tap's fence
(`tap_oracle_wms.sdk`) is the same design: the same lists, `check` and message.

pyproject.toml pins singer-sdk to `TESTED_SERIES`; moving the pin means re-running the
tests, and this check names whatever the new release changed.
"""

from __future__ import annotations

import inspect
import re
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Generic, TypeVar, cast

from singer_sdk import Target
from singer_sdk.sinks import Sink
from singer_sdk.sql import SQLTarget

from target_gruponos_oracle.errors import IncompatibleSDKError

TESTED_SERIES = "0.54"

SinkT = TypeVar("SinkT", bound=Sink)

# Methods the target overrides or calls, per SDK class.
PRIVATE_METHODS: dict[type, tuple[str, ...]] = {
    SQLTarget: (
        "_process_schema_message",
        "_process_record_message",
        "_process_state_message",
        "_process_activate_version_message",
        "_process_batch_message",
        "_handle_max_record_age",
        "_drain_all",
        "_write_state_message",
    ),
}
# Attributes the SDK's constructors set, which the target reads, per class whose own
# constructor sets them.
PRIVATE_ATTRIBUTES: dict[type, tuple[str, ...]] = {
    Target: ("_sinks_active", "_sinks_to_clear", "_latest_state"),
    Sink: ("_key_properties",),
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


check()  # at import: before any setting is read or any message taken


class FencedSQLTarget(SQLTarget, Generic[SinkT]):
    """`SQLTarget` whose private hooks call public methods of the subclass.

    Subclasses implement `handle_schema`, `handle_record`, `handle_state`,
    `handle_activate_version`, `handle_batch`, `write_state` and `drain_sinks`; they reach
    the SDK's own state through the properties and methods below. `SinkT` is the class of
    the subclass's sinks: the SDK creates every sink from `default_sink_class`.
    """

    # Private hooks → public methods --------------------------------------------------------

    def _process_schema_message(self, message_dict: dict) -> None:
        self.handle_schema(message_dict)

    def _process_record_message(self, message_dict: dict) -> None:
        self.handle_record(message_dict)

    def _process_state_message(self, message_dict: dict) -> None:
        self.handle_state(message_dict)

    def _process_activate_version_message(self, message_dict: dict) -> None:
        self.handle_activate_version(message_dict)

    def _process_batch_message(self, message_dict: dict) -> None:
        self.handle_batch(message_dict)

    def _write_state_message(self, state: dict) -> None:
        self.write_state(state)

    def _drain_all(self, sink_list: Iterable[Sink], parallelism: int) -> None:
        self.drain_sinks(sink_list, parallelism)

    # What subclasses implement -------------------------------------------------------------

    @abstractmethod
    def handle_schema(self, message_dict: dict) -> None:
        """Handle a SCHEMA message."""

    @abstractmethod
    def handle_record(self, message_dict: dict) -> None:
        """Handle a RECORD message given as a dict."""

    def handle_state(self, message_dict: dict) -> None:
        """Handle a STATE message; `remember_state` keeps it as the SDK does."""
        self.remember_state(message_dict)

    @abstractmethod
    def handle_activate_version(self, message_dict: dict) -> None:
        """Handle an ACTIVATE_VERSION message."""

    @abstractmethod
    def handle_batch(self, message_dict: dict) -> None:
        """Handle a BATCH message."""

    def write_state(self, state: dict) -> None:
        """Emit a STATE whose rows are committed."""
        SQLTarget._write_state_message(self, state)

    def drain_sinks(self, sink_list: Iterable[Sink], parallelism: int) -> None:
        """Drain `sink_list` (the SDK's drain by default)."""
        SQLTarget._drain_all(self, sink_list, parallelism)

    # The SDK's state, for subclasses -------------------------------------------------------

    @property
    def active_sinks(self) -> dict[str, SinkT]:
        """Current sink per stream name (the SDK's own registry)."""
        return cast("dict[str, SinkT]", self._sinks_active)

    @property
    def replaced_sinks(self) -> list[SinkT]:
        """Sinks replaced by a schema change, not drained yet."""
        return cast("list[SinkT]", self._sinks_to_clear)

    @property
    def latest_state(self) -> dict | None:
        """The last STATE value received."""
        return self._latest_state

    def remember_state(self, message_dict: dict) -> None:
        """Keep a STATE message's value as the SDK does (emitted after the next drain)."""
        SQLTarget._process_state_message(self, message_dict)

    def check_record_age(self) -> None:
        """Drain everything if the oldest buffered record is older than the SDK allows."""
        self._handle_max_record_age()


def stream_key_properties(sink: Sink) -> list[str]:
    """Return the stream's own key property names (the public property conforms them)."""
    return list(sink._key_properties)
