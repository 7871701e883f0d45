"""Fast Singer message reader: msgspec decoding, exact decimals, line numbers in errors."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import IO, Any

import msgspec
from singer_sdk.io_base import GenericSingerReader

from target_gruponos_oracle.errors import BadInputError, InvalidMessageError, NotJsonError


class Envelope(msgspec.Struct):
    """A Singer message with its record left as raw JSON, decoded later by its stream."""

    type: str
    stream: str | None = None
    record: msgspec.Raw = msgspec.Raw()
    version: int | None = None
    time_extracted: str | None = None


class SingerLineReader(GenericSingerReader):
    """Reads Singer messages line by line, counting lines so errors can name them.

    Floats are decoded as `Decimal` so numbers stay exact end to end. RECORD messages go
    to `on_record` (set by the target) as an `Envelope` whose record is still raw JSON, so
    each stream decodes it straight into typed rows; other messages go to the SDK callbacks
    as dicts. When a line is bad, `on_bad_input` runs before the error propagates: the target
    commits what came before and emits the last STATE that is fully covered.
    """

    def __init__(self) -> None:
        """Create the reader with a reusable decoder."""
        super().__init__()
        self._decoder = msgspec.json.Decoder(float_hook=Decimal)
        self._envelope = msgspec.json.Decoder(Envelope)
        self.line_number = 0
        self.on_record: Callable[[Envelope], None] | None = None
        # Tried first on every line: `load_records(line, lines)` loads RECORD lines from
        # `line` on and returns (records loaded, first line not taken or None).
        self.load_records: (
            Callable[[bytes | str, Iterator[bytes | str]], tuple[int, bytes | str | None]] | None
        ) = None
        self.on_bad_input: Callable[[BadInputError], None] | None = None

    @property
    def default_input(self) -> IO[bytes]:
        """Standard input, as bytes (msgspec decodes UTF-8 bytes directly)."""
        return sys.stdin.buffer

    def deserialize_json(self, line: str | bytes) -> dict:
        """Decode one line into a message dict."""
        try:
            message = self._decoder.decode(line)
        except msgspec.DecodeError as exc:
            raise NotJsonError(f"line is not valid JSON ({exc})") from None
        if not isinstance(message, dict):
            raise InvalidMessageError("a Singer message must be a JSON object")
        return message

    def process_lines(
        self,
        file_input: IO[Any] | None,
        callbacks: dict[str, Callable[[dict], None]],
    ) -> Counter[str]:
        """Dispatch every message to its callback; bad input stops with the line number."""
        stats: Counter[str] = Counter()
        self.line_number = line_number = 0
        on_record = self.on_record
        load_records = self.load_records
        decode_envelope = self._envelope.decode
        lines = iter(file_input or self.default_input)
        try:
            for first in lines:
                line_number += 1  # `first` is this line
                line: bytes | str = first
                if load_records is not None:
                    count, rest = load_records(first, lines)
                    if count:
                        stats["RECORD"] += count
                        # `rest` is the line after the records; None: the last was a record.
                        line_number += count if rest is not None else count - 1
                    if rest is None:
                        continue
                    line = rest
                try:
                    envelope = decode_envelope(line)
                except msgspec.DecodeError:
                    if not line.strip():
                        continue
                    envelope = None  # deserialize_json below names the problem
                if envelope is not None and envelope.type == "RECORD" and on_record:
                    on_record(envelope)
                    stats["RECORD"] += 1
                    continue
                message = self.deserialize_json(line)
                message_type = message.get("type")
                if not isinstance(message_type, str) or message_type not in callbacks:
                    raise InvalidMessageError(
                        f"unknown or missing message type {message_type!r}",
                        stream=message.get("stream"),
                    )
                callbacks[message_type](message)
                stats[message_type] += 1
        except BadInputError as exc:
            exc.line = self.line_number = line_number
            if self.on_bad_input is not None:
                self.on_bad_input(exc)
            raise
        self.line_number = line_number
        return stats
