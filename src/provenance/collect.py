"""Collect answers of a KNOWN model to the behavioural probes, as corpus records.

``provenance collect ENDPOINT --model NAME --creator CREATOR -o FILE`` runs the
behavioural probes (identity, refusal, cutoff, style; chat mode) of a probe set
against an endpoint whose creator is known, and appends one JSON line per
answer in the record format of the reference corpus (``responses.jsonl.gz``)::

    {"source": "model_name_identity", "model": "qwen2.5-coder-0.5b", "creator": "Alibaba",
     "variant": "", "prompt_id": "identity:4354982324", "kind": "identity",
     "prompt": "Who made you?", "response": "...",
     "extra": {"collected": true, "probe_id": "identity.who_made_you", "family": "Qwen2.5",
               "repeat": 0, ...}}

How a record maps back to its probe: ``source`` and ``prompt_id`` are the
probe's ``corpus`` reference split at the FIRST ``:`` (so ``source + ":" +
prompt_id == probe.corpus``, the key ``ProbeSet.by_corpus()`` and the
classifier use for corpus records). A probe without a ``corpus`` reference
(never the case for behavioural probes in a valid set) gets ``source`` =
"collected" and ``prompt_id`` = its probe id. ``extra.collected`` is always
true and ``extra.probe_id`` names the probe, so collected records can always be
told apart from the reference corpus. ``kind`` is the probe family.

``variant`` is "" or, with ``--system-prompt``, "sys-prompt": the system
message is then prepended to every probe's messages and recorded in
``extra.system_prompt``.

The output is append-only: every record is flushed and fsync'ed as it is
written, so an interrupted run loses at most the record being written (a torn
last line, or torn last gzip member, is cut off on the next run). A re-run
skips every (model, variant, probe, repeat) already present. ``.gz`` outputs
are written as one gzip member per record (a valid multi-member gzip file).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .training.records import RecordWriter, read_raw, record_key
from .errors import ConfigError, EndpointUnusable
from .probes import Probe, ProbeSet

VARIANT_SYS_PROMPT = "sys-prompt"
COLLECTED_SOURCE = "collected"
MAX_REPEATS = 100
MAX_SYSTEM_PROMPT_CHARS = 20_000


@dataclass
class CollectSummary:
    output: str
    probes: int                       # behavioural probes in the set
    repeats: int
    already: int = 0                  # (probe, repeat) pairs found in the output
    written: int = 0
    failed: int = 0
    failures: dict[str, str] = field(default_factory=dict)   # probe_id#repeat -> reason
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- records

def split_corpus_ref(probe: Probe) -> tuple[str, str]:
    """(source, prompt_id) of a probe: its ``corpus`` split at the first ':'."""
    ref = probe.corpus or ""
    source, sep, prompt_id = ref.partition(":")
    if not sep or not source or not prompt_id:
        return COLLECTED_SOURCE, probe.id
    return source, prompt_id


def user_prompt(probe: Probe) -> str:
    for m in reversed(probe.messages):
        if m.get("role") == "user":
            return m.get("content", "")
    return probe.messages[-1].get("content", "") if probe.messages else ""


def with_system_prompt(probe: Probe, system_prompt: str) -> Probe:
    msgs = ({"role": "system", "content": system_prompt},) + tuple(probe.messages)
    return dataclasses.replace(probe, messages=msgs)


def behavioural_probes(probeset: ProbeSet) -> list[Probe]:
    return [p for p in probeset.probes if p.behavioural and p.mode == "chat"]


def make_record(probe: Probe, result: Any, *, model: str, creator: str, family: str | None,
                variant: str, repeat: int, system_prompt: str | None, probeset: ProbeSet) -> dict[str, Any]:
    source, prompt_id = split_corpus_ref(probe)
    extra: dict[str, Any] = {
        "collected": True,
        "probe_id": probe.id,
        "family": family,
        "repeat": repeat,
        "probeset": {"name": probeset.name, "version": probeset.version, "hash": probeset.hash},
        "finish_reason": getattr(result, "finish_reason", None),
        "usage": getattr(result, "usage", None),
        "served_model": getattr(result, "response_model", None),
        "system_fingerprint": getattr(result, "system_fingerprint", None),
        "collected_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if system_prompt is not None:
        extra["system_prompt"] = system_prompt
    return {
        "source": source,
        "model": model,
        "creator": creator,
        "variant": variant,
        "prompt_id": prompt_id,
        "kind": probe.family,
        "prompt": user_prompt(probe),
        "response": result.text,
        "extra": extra,
    }


# ----------------------------------------------------------------------------- the run

def validate_options(*, creator: str, repeats: int, output: Path, system_prompt: str | None) -> None:
    if not isinstance(creator, str) or not creator.strip():
        raise ConfigError("--creator is empty")
    if not isinstance(repeats, int) or not 1 <= repeats <= MAX_REPEATS:
        raise ConfigError(f"--repeats must be an integer in 1..{MAX_REPEATS}")
    if output.exists() and output.is_dir():
        raise ConfigError(f"{output}: is a directory (give a .jsonl or .jsonl.gz file)")
    if system_prompt is not None:
        if not system_prompt.strip():
            raise ConfigError("--system-prompt is empty")
        if len(system_prompt) > MAX_SYSTEM_PROMPT_CHARS:
            raise ConfigError(f"--system-prompt is longer than {MAX_SYSTEM_PROMPT_CHARS} characters")


def _run(target: Any, probeset: ProbeSet, probes: list[Probe], settings: Any,
         on_result: Callable[[Any], None]) -> Any:
    """``run_probes_sync``, given the Target: it makes and opens the endpoint for the call."""
    from .probing.one_target import run_probes_sync

    return run_probes_sync(target, probeset, settings=settings, probes=probes, on_result=on_result)


def collect(base_url: str, *, model: str, creator: str, output: Path | str, family: str | None = None,
            system_prompt: str | None = None, repeats: int = 1, probes_dir: Path | str | None = None,
            protocol: str = "openai", api_key_env: str | None = None, settings: Any = None,
            probeset: ProbeSet | None = None,
            progress: Callable[[str], None] | None = None) -> CollectSummary:
    """Run the behavioural probes ``repeats`` times, appending new answers to ``output``."""
    from .probes import load_probeset
    from .settings import RunSettings, make_target

    output = Path(output)
    validate_options(creator=creator, repeats=repeats, output=output, system_prompt=system_prompt)
    target = make_target(base_url, model, protocol=protocol, api_key_env=api_key_env)
    creator = creator.strip()
    family = family.strip() if family and family.strip() else None
    probeset = probeset or load_probeset(probes_dir)
    settings = settings or RunSettings()
    variant = VARIANT_SYS_PROMPT if system_prompt is not None else ""
    base = behavioural_probes(probeset)
    if not base:
        raise ConfigError(f"the probe set {probeset.name} {probeset.version} has no behavioural chat probes")
    sent = {p.id: (with_system_prompt(p, system_prompt) if system_prompt is not None else p) for p in base}

    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{output.parent}: cannot create directory ({e.strerror or e})") from None
    summary = CollectSummary(output=str(output), probes=len(base), repeats=repeats)
    t0 = time.monotonic()
    if output.exists() and output.is_dir():
        raise ConfigError(f"{output}: is a directory")
    try:
        writer = RecordWriter(output)      # locked before the file is read or repaired
    except OSError as e:
        raise ConfigError(f"{output}: cannot open for appending ({e.strerror or e})") from None
    try:
        have = {k for k in (record_key(r) for r in read_raw(output, repair=True)) if k is not None}
    except BaseException:
        writer.close()
        raise
    attempted = 0
    by_id = {p.id: p for p in base}
    try:
        for rep in range(repeats):
            todo = [sent[p.id] for p in base if (target.model, variant, p.id, rep) not in have]
            summary.already += len(base) - len(todo)
            if not todo:
                continue
            attempted += len(todo)

            def on_result(result: Any, rep: int = rep) -> None:
                key = f"{result.probe_id}#{rep}"
                if result.probe_id not in by_id:
                    return
                if not result.ok or result.text is None:
                    summary.failed += 1
                    summary.failures[key] = str(result.error or "no text")[:200]
                    if progress:
                        progress(f"failed  {key}: {summary.failures[key]}")
                    return
                rec = make_record(by_id[result.probe_id], result, model=target.model, creator=creator,
                                  family=family, variant=variant, repeat=rep, system_prompt=system_prompt,
                                  probeset=probeset)
                writer.write(rec)
                have.add((target.model, variant, result.probe_id, rep))
                summary.written += 1
                tokens = result.token_usage()
                if tokens is not None:
                    summary.prompt_tokens += tokens.prompt or 0
                    summary.completion_tokens += tokens.completion or 0
                if progress:
                    progress(f"ok      {key}")

            _run(target, probeset, todo, settings, on_result)
    finally:
        writer.close()
        summary.seconds = round(time.monotonic() - t0, 3)
    if attempted and summary.written == 0:
        reasons = sorted(set(summary.failures.values()))[:3]
        raise EndpointUnusable(f"no probe succeeded against {target.public()['base_url']} "
                               f"({summary.failed} failed: {'; '.join(reasons)})")
    return summary

