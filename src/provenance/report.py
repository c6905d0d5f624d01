"""The attribution report: a versioned JSON document carrying all its evidence.

``build_report`` assembles it from a transcript and an attribution;
``transcript_from_report`` recovers the raw probe results for re-classification;
``check_report`` validates a report read from a file (untrusted input) and
raises ConfigError with a one-line reason. The JSON Schema ships in
``data/report.schema.json`` (``provenance report schema`` prints it).
"""

from __future__ import annotations

import json
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from . import TOOL_NAME, __version__
from .errors import ConfigError, SchemaVersionError
from .transcript import Transcript, new_run_id  # noqa: F401 - new_run_id: the report's run id

REPORT_SCHEMA_VERSION = 1
CHARS_PER_TOKEN = 4.0      # estimate when an endpoint reports no usage


def cost_of(transcript: Transcript) -> dict[str, Any]:
    """Tokens sent and received: from ``usage`` where reported, else estimated from characters.

    A probe that got no answer counts nothing; basis ``none`` when no probe got one."""
    sent = received = 0
    reported = estimated = 0
    for r in transcript.results:
        if r.status == "skipped":
            continue
        u = r.token_usage()
        if u is not None and u.prompt is not None and u.completion is not None:
            sent += u.prompt
            received += u.completion
            reported += 1
            continue
        if not r.text and (r.status != "ok" or not r.request):
            # no answer (unreachable, refused, timed out, an error status): nothing is known
            # to have been processed, so nothing is estimated
            continue
        body = r.request.get("json") or r.request.get("body") or {}
        msgs = body.get("messages") or []
        chars_in = sum(len(str(m.get("content", ""))) for m in msgs if isinstance(m, dict))
        sent += int(chars_in / CHARS_PER_TOKEN) + 1 if chars_in else 0
        received += int(len(r.text or "") / CHARS_PER_TOKEN)
        estimated += 1
    return {"tokens_sent": sent, "tokens_received": received, "tokens_total": sent + received,
            "probes_with_usage": reported, "probes_estimated": estimated,
            "basis": ("none" if reported == estimated == 0 else
                      "usage" if estimated == 0 else ("estimate" if reported == 0 else "mixed"))}


def build_report(transcript: Transcript, attribution: Any, classifier_info: Mapping[str, Any],
                 run_id: str | None = None, unscored: list[str] | None = None) -> dict[str, Any]:
    """The report of a transcript and its attribution; ``unscored``: the probes the model was not
    trained on (sent and stored, left out of the score), listed as ``probeset.unscored``."""
    attr = attribution.to_dict() if hasattr(attribution, "to_dict") else dict(attribution)
    probeset = {k: v for k, v in transcript.probeset.items() if k != "unscored"}
    if unscored:
        probeset["unscored"] = list(unscored)
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "run": {"id": run_id or new_run_id(), "started_at": transcript.started_at,
                "finished_at": transcript.finished_at, "stopped_because": transcript.stopped_because,
                **({"pacing": dict(transcript.pacing)} if transcript.pacing else {}),
                **({"incomplete": incomplete} if (incomplete := transcript.incomplete()) else {})},
        "target": dict(transcript.target),
        "probeset": probeset,
        "classifier": dict(classifier_info),
        "attribution": attr,
        "summary": transcript.counts(),
        "cost": cost_of(transcript),
        "probes": [r.to_dict() for r in transcript.results],
    }


def transcript_from_report(doc: Mapping[str, Any]) -> Transcript:
    run = doc.get("run") or {}
    return Transcript.from_dict({
        "target": doc.get("target") or {},
        "probeset": doc.get("probeset") or {},
        "started_at": run.get("started_at"),
        "finished_at": run.get("finished_at"),
        "stopped_because": run.get("stopped_because"),
        "pacing": run.get("pacing"),
        "results": doc.get("probes") or [],
    })


def report_schema() -> dict[str, Any]:
    """The report's JSON Schema, its ``target.protocol`` enum read from the protocol registry
    (``endpoints/registry.py``; the shipped file lists the same, a test checks)."""
    from .endpoints import registry
    from .transcript import MANUAL_PROTOCOL
    text = resources.files("provenance").joinpath("data/report.schema.json").read_text(encoding="utf-8")
    doc = json.loads(text)
    doc["properties"]["target"]["properties"]["protocol"]["enum"] = [*registry.names(), MANUAL_PROTOCOL]
    return doc


def check_report(doc: Any, where: str = "report") -> dict[str, Any]:
    """Structural validation of a report from outside; one-line ConfigError on failure."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: not a JSON object")
    sv = doc.get("schema_version")
    if not isinstance(sv, int) or isinstance(sv, bool):
        raise ConfigError(f"{where}: missing integer 'schema_version' (is this a provenance report?)")
    if sv > REPORT_SCHEMA_VERSION:
        raise SchemaVersionError(f"{where}: schema_version {sv} is newer than this tool supports "
                                 f"({REPORT_SCHEMA_VERSION}); upgrade provenance")
    for key, typ in (("target", dict), ("probeset", dict), ("probes", list)):
        if not isinstance(doc.get(key), typ):
            raise ConfigError(f"{where}: field '{key}' missing or not a {typ.__name__}")
    for i, p in enumerate(doc["probes"]):
        if not isinstance(p, dict) or not isinstance(p.get("probe_id"), str) or not isinstance(p.get("family"), str):
            raise ConfigError(f"{where}: probes[{i}] needs string 'probe_id' and 'family'")
        for k, typ in (("text", str), ("status", str), ("chunks", list), ("usage", dict), ("headers", dict)):
            v = p.get(k)
            if v is not None and not isinstance(v, typ):
                raise ConfigError(f"{where}: probes[{i}].{k} must be a {typ.__name__}")
        if p.get("chunks") and not all(isinstance(c, str) for c in p["chunks"]):
            raise ConfigError(f"{where}: probes[{i}].chunks must hold strings")
    return doc


def read_report(path: Path | str) -> dict[str, Any]:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read ({e.strerror or e})") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ConfigError(f"{p}: not a JSON report ({type(e).__name__})") from None
    return check_report(doc, where=str(p))


def dumps(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=False)


def check_output_path(path: Path | str) -> Path:
    """An output file path the user gave: not a directory, in a directory that exists."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"{parent}: output directory does not exist")
    return p


def write_atomic(path: Path | str, text: str) -> None:
    """Write via a temp file in the same directory and rename: never a half-written file."""
    p = check_output_path(path)
    parent = p.parent if str(p.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
