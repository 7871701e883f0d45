"""Singer message output: msgspec encoding into a buffer, flushed in large writes."""

from __future__ import annotations

import atexit
import sys
import typing as t
import weakref

import msgspec
from singer_sdk.io_base import SingerMessageType, SingerWriter

# Decimals leave as JSON numbers with every digit, so a target can keep them exact.
ENCODER = msgspec.json.Encoder(decimal_format="number")
_FLUSH_BYTES = 1 << 20


class BufferedSingerWriter(SingerWriter):
    """Writes Singer messages to stdout through one buffer.

    RECORD lines accumulate and go out in ~1 MiB writes; any other message (SCHEMA,
    STATE, ACTIVATE_VERSION) flushes at once, so a STATE never waits behind records.
    Whatever is still buffered when the process ends (a stream failed half way) is
    written then, so the records read before a failure reach the target.
    """

    def __init__(self) -> None:
        """Start with an empty buffer."""
        super().__init__()
        self._buffer = bytearray()
        _WRITERS.add(self)

    def serialize_message(self, message: t.Any) -> str:
        """One message as a JSON line (without the newline)."""
        return ENCODER.encode(message.to_dict()).decode()

    def write_message(self, message: t.Any) -> None:
        """Buffer a message; flush unless it is a RECORD."""
        self._buffer += ENCODER.encode(message.to_dict())
        self._buffer += b"\n"
        if message.type != SingerMessageType.RECORD or len(self._buffer) >= _FLUSH_BYTES:
            self.flush()

    def write_record(self, prefix: bytes, record: dict, suffix: bytes) -> None:
        """Buffer a RECORD line from pre-encoded envelope parts (the fast path)."""
        buffer = self._buffer
        start = len(buffer)
        buffer += prefix
        try:
            ENCODER.encode_into(record, buffer, -1)  # appends in place: no temporary bytes
        except BaseException:
            del buffer[start:]  # never half a line: the buffer is flushed even on failure
            raise
        buffer += suffix
        if len(buffer) >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write out everything buffered."""
        if not self._buffer:
            return
        out = sys.stdout
        out.flush()  # anything printed through the text layer goes first
        raw = getattr(out, "buffer", None)
        if raw is not None:
            raw.write(self._buffer)
            raw.flush()
        else:  # stdout replaced by a text stream (e.g. in tests)
            out.write(self._buffer.decode())
            out.flush()
        self._buffer.clear()


_WRITERS: weakref.WeakSet[BufferedSingerWriter] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for writer in list(_WRITERS):
        writer.flush()
