"""Probe definitions: data in ``probes/*.toml``, loaded into frozen objects.

A probe set is a directory holding ``probeset.toml`` (name, version) and any
number of ``*.toml`` files, each with ``[[probe]]`` tables::

    [[probe]]
    id = "identity.who_made_you"          # stable dotted id, unique in the set
    family = "identity"                   # identity|refusal|cutoff|tokenizer|style|api
    mode = "chat"                         # chat (default) | count | baseline | echo | invalid
    corpus = "model_name_identity:identity:4354982324"   # source:prompt_id in the reference corpus
    stream = false
    max_tokens = 256
    temperature = 0.0
    messages = [{ role = "user", content = "Who made you?" }]
    notes = "why this probe is here"
    # optional: params = { ... } extra request fields (e.g. an impossible max_tokens)
    # optional: text = "..." the raw string a tokenizer count probe measures

The set's hash is the sha256 of a canonical JSON of its name, version and
every probe (sorted by id), so any change to any probe changes the hash.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .channels.registry import ANSWER_CHANNELS, PROBE_FAMILIES
from .errors import ProbeFileError

FAMILIES = PROBE_FAMILIES
MODES = ("chat", "count", "baseline", "echo", "invalid")
BEHAVIOURAL = ANSWER_CHANNELS     # the probe families scored from their answers
ROLES = ("system", "user", "assistant")
MAX_TOKENS_CAP = 4096
PROBESET_FILE = "probeset.toml"
PROBESET_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Probe:
    id: str
    family: str
    messages: tuple[dict[str, str], ...]
    mode: str = "chat"
    corpus: str | None = None
    stream: bool = False
    max_tokens: int = 256
    temperature: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    notes: str = ""

    @property
    def behavioural(self) -> bool:
        return self.family in BEHAVIOURAL

    def canonical(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "family": self.family,
            "mode": self.mode,
            "corpus": self.corpus,
            "stream": self.stream,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "messages": [dict(m) for m in self.messages],
            "params": self.params,
            "text": self.text,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class ProbeSet:
    name: str
    version: str
    probes: tuple[Probe, ...]
    source: str = ""

    @property
    def hash(self) -> str:
        doc = {
            "schema_version": PROBESET_SCHEMA_VERSION,
            "name": self.name,
            "version": self.version,
            "probes": [p.canonical() for p in sorted(self.probes, key=lambda p: p.id)],
        }
        blob = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def get(self, probe_id: str) -> Probe:
        for p in self.probes:
            if p.id == probe_id:
                return p
        raise KeyError(probe_id)

    def by_corpus(self) -> dict[str, Probe]:
        """Map ``source:prompt_id`` to the probe that asks that corpus prompt."""
        return {p.corpus: p for p in self.probes if p.corpus}

    def ids(self) -> list[str]:
        return [p.id for p in self.probes]

    def info(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "hash": self.hash}

    def holds(self, info: dict[str, Any], probe_ids: Any) -> bool:
        """Does this set hold, unchanged, the probe set ``info`` (name, version, hash) whose
        probes were ``probe_ids``? True when those probes are all here with the same content:
        the hash of this set cut to them, under that name and version, is that hash (a set
        that adds probes holds the one it grew from; one that changed or dropped any does not)."""
        ids = set(probe_ids or ())
        if not ids or not all(isinstance(i, str) for i in ids) or not ids <= set(self.ids()):
            return False
        cut = ProbeSet(name=str(info.get("name")), version=str(info.get("version")),
                       probes=tuple(p for p in self.probes if p.id in ids))
        return cut.hash == info.get("hash")


def _fail(path: Path, msg: str) -> ProbeFileError:
    return ProbeFileError(f"{path}: {msg}")


def _probe_from_table(path: Path, idx: int, t: Any) -> Probe:
    where = f"probe #{idx + 1}"
    if not isinstance(t, dict):
        raise _fail(path, f"{where} is not a table")
    pid = t.get("id")
    if not isinstance(pid, str) or not pid or any(c.isspace() for c in pid):
        raise _fail(path, f"{where}: 'id' must be a non-empty string without spaces")
    where = f"probe {pid!r}"
    known = {"id", "family", "mode", "corpus", "stream", "max_tokens", "temperature",
             "messages", "params", "text", "notes"}
    extra = set(t) - known
    if extra:
        raise _fail(path, f"{where}: unknown field(s) {', '.join(sorted(extra))}")
    family = t.get("family")
    if family not in FAMILIES:
        raise _fail(path, f"{where}: 'family' must be one of {', '.join(FAMILIES)}")
    mode = t.get("mode", "chat")
    if mode not in MODES:
        raise _fail(path, f"{where}: 'mode' must be one of {', '.join(MODES)}")
    msgs = t.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise _fail(path, f"{where}: 'messages' must be a non-empty list")
    messages = []
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise _fail(path, f"{where}: each message needs a role ({'/'.join(ROLES)}) and string content")
        messages.append({"role": m["role"], "content": m["content"]})
    max_tokens = t.get("max_tokens", 256)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 1 <= max_tokens <= MAX_TOKENS_CAP:
        raise _fail(path, f"{where}: 'max_tokens' must be an integer in 1..{MAX_TOKENS_CAP}")
    temperature = t.get("temperature", 0.0)
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not 0 <= temperature <= 2:
        raise _fail(path, f"{where}: 'temperature' must be a number in 0..2")
    stream = t.get("stream", False)
    if not isinstance(stream, bool):
        raise _fail(path, f"{where}: 'stream' must be true or false")
    params = t.get("params", {})
    if not isinstance(params, dict):
        raise _fail(path, f"{where}: 'params' must be a table")
    for name, label in (("corpus", "corpus"), ("text", "text"), ("notes", "notes")):
        v = t.get(name)
        if v is not None and not isinstance(v, str):
            raise _fail(path, f"{where}: '{label}' must be a string")
    if family in BEHAVIOURAL and not t.get("corpus"):
        raise _fail(path, f"{where}: behavioural probes need a 'corpus' reference (source:prompt_id)")
    return Probe(
        id=pid, family=family, mode=mode, corpus=t.get("corpus"), stream=stream,
        max_tokens=max_tokens, temperature=float(temperature), params=params,
        messages=tuple(messages), text=t.get("text"), notes=t.get("notes", "") or "",
    )


def load_probe_file(path: Path) -> list[Probe]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise _fail(path, f"cannot read ({e.strerror or e})") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _fail(path, "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise _fail(path, f"invalid TOML ({e})") from None
    tables = doc.get("probe", [])
    if not isinstance(tables, list):
        raise _fail(path, "'probe' must be an array of tables ([[probe]])")
    return [_probe_from_table(path, i, t) for i, t in enumerate(tables)]


def default_probe_dir() -> Path:
    """The probe set shipped with the tool (source checkout first, then the wheel)."""
    here = Path(__file__).resolve().parent
    for cand in (here.parents[1] / "probes", here / "_probes"):
        if (cand / PROBESET_FILE).is_file():
            return cand
    raise ProbeFileError("the shipped probe set was not found (probes/probeset.toml)")


def load_probeset(directory: Path | str | None = None) -> ProbeSet:
    d = Path(directory) if directory is not None else default_probe_dir()
    if not d.is_dir():
        raise ProbeFileError(f"{d}: not a directory of probe files")
    meta_path = d / PROBESET_FILE
    if not meta_path.is_file():
        raise ProbeFileError(f"{d}: missing {PROBESET_FILE} (name and version of the set)")
    try:
        meta = tomllib.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise _fail(meta_path, f"unreadable ({e})") from None
    sv = meta.get("schema_version", PROBESET_SCHEMA_VERSION)
    if not isinstance(sv, int) or sv > PROBESET_SCHEMA_VERSION:
        raise _fail(meta_path, f"schema_version {sv!r} is newer than this tool supports ({PROBESET_SCHEMA_VERSION})")
    name, version = meta.get("name"), meta.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        raise _fail(meta_path, "needs string fields 'name' and 'version'")
    probes: list[Probe] = []
    for f in sorted(d.glob("*.toml")):
        if f.name == PROBESET_FILE:
            continue
        probes.extend(load_probe_file(f))
    seen: set[str] = set()
    for p in probes:
        if p.id in seen:
            raise ProbeFileError(f"{d}: duplicate probe id {p.id!r}")
        seen.add(p.id)
    if not probes:
        raise ProbeFileError(f"{d}: the probe set holds no probes")
    return ProbeSet(name=name, version=version, probes=tuple(probes), source=str(d))
