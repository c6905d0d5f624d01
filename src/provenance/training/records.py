"""The corpus record format: the one reader and writer, shared by training and ``collect``.

One JSON object per line (``responses.jsonl.gz`` in the reference corpus; files
``provenance collect`` writes), described in ``../shared/reference/README.md``::

    {"source": "model_name_identity", "model": "...", "creator": "...", "variant": "",
     "prompt_id": "identity:4354982324", "prompt": "...", "response": "...", "extra": {...}}

* ``read_records(path)``: the typed ``Record`` of every line, strict (a malformed
  line is a one-line error naming it); what training reads;
* ``read_raw(path, repair=False)``: the dicts of an append-only file's complete,
  valid prefix; with ``repair`` a torn tail (an interrupted write) is cut off;
  what ``collect`` reads before it appends;
* ``RecordWriter``: appends one record at a time, flushed and fsync'ed, under an
  exclusive lock (``.gz``: one gzip member per record, a valid multi-member gzip);
* ``record_key``: the (model, variant, probe, repeat) a collected record answers.

Standard library only.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..classifier.corpus_sources import family_of_source
from ..errors import ConfigError


@dataclass
class Record:
    source: str
    model: str
    creator: str
    variant: str
    prompt_id: str
    response: str
    extra: dict[str, Any] = field(default_factory=dict)
    prompt: str = ""

    @property
    def key(self) -> str:
        return f"{self.source}:{self.prompt_id}"

    @property
    def family(self) -> str:
        return family_of_source(self.source)


def _open(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


def read_records(path: Path) -> Iterator[Record]:
    try:
        fh = _open(path)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from None
    n = 0
    with fh:
        try:
            for n, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    r = json.loads(line)
                    yield Record(source=str(r["source"]), model=str(r["model"]).lower(),
                                 creator=str(r["creator"]), variant=str(r.get("variant") or ""),
                                 prompt_id=str(r["prompt_id"]), response=str(r.get("response") or ""),
                                 extra=dict(r.get("extra") or {}), prompt=str(r.get("prompt") or ""))
                except (ValueError, KeyError, TypeError, AttributeError) as e:
                    raise ConfigError(f"{path}:{n}: not a corpus record ({type(e).__name__})") from None
        except (OSError, EOFError, UnicodeDecodeError) as e:   # not gzip, truncated gzip, not UTF-8
            raise ConfigError(f"{path}: unreadable after line {n} ({type(e).__name__}: {e})"[:300]) from None


def record_key(rec: dict[str, Any]) -> tuple[str, str, str, int] | None:
    extra = rec.get("extra") if isinstance(rec.get("extra"), dict) else {}
    pid = extra.get("probe_id")
    if not isinstance(pid, str) or not isinstance(rec.get("model"), str):
        return None
    rep = extra.get("repeat", 0)
    return rec["model"], str(rec.get("variant") or ""), pid, int(rep) if isinstance(rep, int) else 0


def is_gzip_path(path: Path) -> bool:
    return path.name.endswith(".gz")


def _parse_lines(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """Records in ``data`` and the byte length of its complete, valid prefix."""
    out: list[dict[str, Any]] = []
    good = 0
    pos = 0
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            break
        line = data[pos:nl].strip()
        if line:
            try:
                rec = json.loads(line)
            except ValueError:
                break
            if isinstance(rec, dict):
                out.append(rec)
        pos = nl + 1
        good = pos
    return out, good


def _read_gzip_members(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """Records of a multi-member gzip and the byte length of its complete members."""
    out: list[dict[str, Any]] = []
    good = 0
    while good < len(data):
        d = zlib.decompressobj(wbits=31)
        try:
            text = d.decompress(data[good:])
        except zlib.error:
            break
        if not d.eof:
            break
        recs, used = _parse_lines(text)
        if used != len(text):       # a member holding a torn line: stop before it
            break
        out.extend(recs)
        good = len(data) - len(d.unused_data)
    return out, good


def read_raw(path: Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """Records already in ``path``. With ``repair``, a torn tail is cut off the file."""
    if not path.exists():
        return []
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from None
    if is_gzip_path(path):
        if data and not data.startswith(b"\x1f\x8b"):
            raise ConfigError(f"{path}: not a gzip file (the .gz name asks for gzip output)")
        recs, good = _read_gzip_members(data)
    else:
        if data.startswith(b"\x1f\x8b"):
            raise ConfigError(f"{path}: holds gzip data; name it *.gz")
        recs, good = _parse_lines(data)
    if good < len(data):
        if not repair:
            return recs
        with open(path, "r+b") as f:
            f.truncate(good)
            f.flush()
            os.fsync(f.fileno())
    return recs


class RecordWriter:
    """Appends one record at a time, flushed and fsync'ed.

    Holds an exclusive advisory lock on the file while open, so two collectors
    can never append to (or repair) the same file at once.
    """

    def __init__(self, path: Path) -> None:
        import fcntl

        self.path = path
        self.gzip = is_gzip_path(path)
        self._f = open(path, "ab")
        try:
            fcntl.flock(self._f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._f.close()
            raise ConfigError(f"{path}: another collect is writing to this file") from None

    def write(self, rec: dict[str, Any]) -> None:
        line = (json.dumps(rec, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")
        if self.gzip:
            buf = io.BytesIO()
            with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as g:
                g.write(line)
            line = buf.getvalue()
        self._f.write(line)
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()
