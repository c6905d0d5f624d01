"""Incremental Server-Sent Events parser over raw bytes (WHATWG event-stream rules).

Feed it bytes exactly as they come off the socket, split anywhere::

    p = SSEParser()
    for chunk in body_chunks:
        for ev in p.feed(chunk):
            ...
    for ev in p.close():      # stream ended: a last event without its blank line
        ...

* Lines end with ``\\r\\n``, ``\\n`` or ``\\r``, even when the pair ``\\r\\n`` is
  split between two chunks.
* Lines are cut on bytes first and decoded afterwards (UTF-8, invalid bytes
  replaced), so a multi-byte character split between chunks survives.
* ``data`` lines accumulate (joined with ``\\n``); lines starting with ``:`` are
  comments; ``event``, ``id`` and ``retry`` follow the spec; unknown fields are
  ignored; a leading BOM is dropped.
* ``close()`` dispatches an event left without its terminating blank line (many
  servers end the stream that way), so a stream ending without ``[DONE]`` still
  yields everything it carried.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_EOL = re.compile(rb"\r\n|\r|\n")
_BOM = "\ufeff"


@dataclass(frozen=True)
class SSEEvent:
    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEParser:
    def __init__(self) -> None:
        self._buf = bytearray()
        self._skip_lf = False          # last chunk ended in "\r": drop a leading "\n"
        self._first_line = True
        self._data: list[str] = []
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None
        self._closed = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._closed or not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        buf = self._buf
        buf += chunk
        out: list[SSEEvent] = []
        pos = 0
        n = len(buf)
        while pos < n:
            m = _EOL.search(buf, pos)
            if m is None:
                break
            line = bytes(buf[pos:m.start()])
            pos = m.end()
            if m.group() == b"\r" and pos == n:
                self._skip_lf = True
            self._line(line, out)
        if pos:
            del buf[:pos]
        return out

    def close(self) -> list[SSEEvent]:
        """The stream ended: process a last unterminated line and any pending event."""
        if self._closed:
            return []
        self._closed = True
        out: list[SSEEvent] = []
        if self._buf:
            self._line(bytes(self._buf), out)
            self._buf.clear()
        self._dispatch(out)
        return out

    # ------------------------------------------------------------------ internals
    def _line(self, raw: bytes, out: list[SSEEvent]) -> None:
        line = raw.decode("utf-8", errors="replace")
        if self._first_line:
            self._first_line = False
            if line.startswith(_BOM):
                line = line[1:]
        if line == "":
            self._dispatch(out)
            return
        if line.startswith(":"):
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self._last_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry = int(value)

    def _dispatch(self, out: list[SSEEvent]) -> None:
        if not self._data:
            self._event = ""
            return
        out.append(SSEEvent(data="\n".join(self._data), event=self._event or "message",
                            id=self._last_id, retry=self._retry))
        self._data = []
        self._event = ""


def parse_all(data: bytes) -> list[SSEEvent]:
    """Parse a complete byte stream at once (convenience for tests and replays)."""
    p = SSEParser()
    return p.feed(data) + p.close()
