"""Reading a user's input file with a bound on its size, whatever kind of file it is.

A size check on ``stat`` alone misses what reports no size (a FIFO, ``/dev/zero``, a shell's
``<(...)``): they are read up to the bound plus one byte, and anything longer is refused.
"""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError


def read_capped(path: Path, limit: int, what: str) -> bytes:
    """At most ``limit`` bytes of ``path``; a one-line ``ConfigError`` for a directory, an
    unreadable file or one longer than ``limit`` (``what`` names the kind of file)."""
    try:
        if path.is_dir():
            raise ConfigError(f"{path}: is a directory, not {what}")
        with path.open("rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read {what} ({e.strerror or e})") from None
    if len(raw) > limit:
        raise ConfigError(f"{path}: too large for {what} (at most {limit:,} bytes)")
    return raw
