"""What a probe run recorded: one ``ProbeResult`` per probe, gathered in a ``Transcript``.

A transcript is plain data (JSON-ready through ``to_dict``/``from_dict``). The
feature extractors and the classifier read only transcripts, so a stored or
exported run can be re-classified later without any network traffic, and the
training code builds transcripts from the reference corpus the same way.

Everything an endpoint sent back is untrusted: texts are capped at
``MAX_TEXT_CHARS`` when recorded, headers are filtered to a known allow-list.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

MAX_TEXT_CHARS = 32_000          # cap on any response text kept in a transcript
MAX_CHUNKS = 4_096               # cap on stream chunk boundaries kept
MAX_ERROR_CHARS = 2_000          # cap on error strings and error bodies

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_SKIPPED = "skipped"
# The target protocol of a run whose answers a person pasted from a chat page (questionnaire):
# no request was sent, so the channels that read the API (tokenizer counts, headers) measure nothing.
MANUAL_PROTOCOL = "manual"


def now_iso() -> str:
    """The current time as transcripts, reports and the run store write it: ISO-8601 UTC, ms, "...Z"."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

# Response headers worth keeping: they identify the serving stack. Never auth.
KEPT_HEADERS = (
    "server", "via", "x-powered-by", "content-type",
    "openai-processing-ms", "openai-version", "openai-organization", "openai-model",
    "x-request-id", "request-id", "cf-ray", "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens", "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens", "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens",
    "anthropic-ratelimit-requests-limit", "anthropic-ratelimit-tokens-limit",
    "anthropic-ratelimit-requests-remaining", "anthropic-organization-id",
    "x-groq-region", "x-envoy-upstream-service-time", "x-processing-time", "x-compute-time",
    "x-generation-id", "x-openrouter-provider", "retry-after", "x-model-id", "x-served-by",
    # serving-stack signatures (channels/api.py): TGI timings, Azure, OpenAI project
    "x-compute-type", "x-compute-characters", "x-total-time", "x-validation-time", "x-queue-time",
    "x-inference-time", "x-time-per-token", "x-prompt-tokens", "x-generated-tokens",
    "apim-request-id", "x-ms-region", "azureml-model-session", "openai-project",
)


def cap_text(s: str | None, limit: int = MAX_TEXT_CHARS) -> tuple[str | None, bool]:
    """Cap a string, returning (text, truncated)."""
    if s is None:
        return None, False
    if len(s) > limit:
        return s[:limit], True
    return s, False


def filter_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in headers:
        lk = k.lower()
        if lk in KEPT_HEADERS or lk.startswith(("x-ratelimit-", "anthropic-ratelimit-")):
            if "authorization" in lk or "api-key" in lk or "cookie" in lk:
                continue
            out[lk] = cap_text(str(v), 512)[0] or ""
    return out


@dataclass
class ProbeResult:
    probe_id: str
    family: str
    status: str = STATUS_OK                 # ok | failed | skipped
    error: str | None = None                # reason when failed
    request: dict[str, Any] = field(default_factory=dict)   # what was sent, no secrets
    http_status: int | None = None
    latency_ms: float | None = None
    attempts: int = 0
    text: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    response_id: str | None = None
    response_model: str | None = None
    system_fingerprint: str | None = None
    provider: str | None = None             # upstream provider a router reports (OpenRouter "provider")
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False
    chunks: list[str] | None = None         # stream chunk texts in order (token boundaries)
    truncated: bool = False                 # text or body was capped
    error_body: Any = None                  # parsed JSON (or capped text) of an error reply

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ProbeResult":
        known = {f for f in cls.__dataclass_fields__}  # type: ignore[attr-defined]
        kw = {k: v for k, v in d.items() if k in known}
        if "probe_id" not in kw or "family" not in kw:
            raise ValueError("probe entry needs 'probe_id' and 'family'")
        return cls(**kw)


@dataclass
class Transcript:
    target: dict[str, Any]                  # base_url, protocol, model (never a key)
    probeset: dict[str, str]                # name, version, hash
    results: list[ProbeResult] = field(default_factory=list)
    started_at: str | None = None
    finished_at: str | None = None
    stopped_because: str | None = None      # adaptive runs: why probing stopped
    pacing: dict[str, Any] | None = None    # what the pacer saw (provenance.probing.pacing.Pacer.info)

    @property
    def manual(self) -> bool:
        """Answers pasted by hand (``provenance classify --answers``, ``probe --manual``)."""
        return self.target.get("protocol") == MANUAL_PROTOCOL

    def by_id(self) -> dict[str, ProbeResult]:
        return {r.probe_id: r for r in self.results}

    def ok_results(self, family: str | None = None) -> list[ProbeResult]:
        return [r for r in self.results if r.ok and (family is None or r.family == family)]

    def texts(self, family: str | None = None) -> dict[str, str]:
        """probe id -> response text, for successful probes (optionally one family)."""
        return {r.probe_id: r.text for r in self.ok_results(family) if r.text is not None}

    def counts(self) -> dict[str, int]:
        n_ok = sum(1 for r in self.results if r.ok)
        n_failed = sum(1 for r in self.results if r.status == STATUS_FAILED)
        return {"total": len(self.results), "ok": n_ok, "failed": n_failed,
                "skipped": len(self.results) - n_ok - n_failed}

    def incomplete(self) -> dict[str, Any] | None:
        """``{why: "deadline", answered, of, cut}`` when the target's deadline cut probes that
        were to be sent (a resume continues such a run), else None."""
        cut = sum(1 for r in self.results if r.status == STATUS_FAILED and (r.error or "").startswith("deadline"))
        if not cut:
            return None
        c = self.counts()
        return {"why": "deadline", "answered": c["ok"], "of": c["total"] - c["skipped"], "cut": cut}

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": dict(self.target),
            "probeset": dict(self.probeset),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "stopped_because": self.stopped_because,
            **({"pacing": dict(self.pacing)} if self.pacing else {}),
            "results": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Transcript":
        return cls(
            target=dict(d.get("target") or {}),
            probeset=dict(d.get("probeset") or {}),
            results=[ProbeResult.from_dict(x) for x in d.get("results") or []],
            started_at=d.get("started_at"),
            finished_at=d.get("finished_at"),
            stopped_because=d.get("stopped_because"),
            pacing=dict(d["pacing"]) if isinstance(d.get("pacing"), dict) else None,
        )

    @classmethod
    def from_texts(cls, texts: Mapping[str, str], families: Mapping[str, str],
                   probeset: Mapping[str, str] | None = None,
                   target: Mapping[str, Any] | None = None) -> "Transcript":
        """A transcript holding only answer texts: how training and eval see a corpus model."""
        return cls(
            target=dict(target or {}),
            probeset=dict(probeset or {}),
            results=[ProbeResult(probe_id=pid, family=families.get(pid, "style"), text=t)
                     for pid, t in texts.items()],
        )
