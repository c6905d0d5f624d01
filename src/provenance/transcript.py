"""What a probe run recorded: one ``ProbeResult`` per probe, gathered in a ``Transcript``.

A transcript is plain data (JSON-ready through ``to_dict``/``from_dict``). The
feature extractors and the classifier read only transcripts, so a stored or
exported run can be re-classified later without any network traffic, and the
training code builds transcripts from the reference corpus the same way.

Everything an endpoint sent back is untrusted: texts are capped at
``MAX_TEXT_CHARS`` when recorded, headers are filtered to a known allow-list.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
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
NOT_MEASURED = "not measured (answers pasted by hand; needs the API)"


class ErrorKind(StrEnum):
    """Why a probe failed, as a type: what pacing, the lost-probe notes and a scan's summary read
    (the ``error`` text beside it is for people). Stored as its string value."""

    TIMEOUT = "timeout"                # no complete reply within the read or total time bound
    DEADLINE = "deadline"              # the target's deadline cut it (or it was never sent in time)
    CONNECT = "connect"                # the connection could not be opened
    TRANSPORT = "transport"            # the connection broke, or another transport fault
    REDIRECT = "redirect"              # a redirect that is not followed
    DECODE = "decode"                  # a body that could not be decoded (content-encoding)
    RATE_LIMITED = "rate_limited"      # 429, or a protocol's own "quota exhausted" reply
    SERVER_ERROR = "server_error"      # 5xx (503: unavailable, overloaded)
    AUTH = "auth"                      # 401
    DENIED = "denied"                  # 403
    NOT_FOUND = "not_found"            # 404
    REJECTED = "rejected"              # any other 4xx
    BAD_REPLY = "bad_reply"            # a 2xx reply that could not be understood
    NOT_ANSWERING = "not_answering"    # not sent: the endpoint had been declared not answering
    ABANDONED = "abandoned"            # in flight when the endpoint was declared not answering
    INTERNAL = "internal"              # a bug on our side (recorded, never raised)


# how results recorded before error kinds existed named them: the lead of their error text
_LEGACY_LEADS = (
    ("not sent: endpoint not answering", ErrorKind.NOT_ANSWERING), ("abandoned in flight", ErrorKind.ABANDONED),
    ("timeout", ErrorKind.TIMEOUT), ("deadline", ErrorKind.DEADLINE), ("rate limited", ErrorKind.RATE_LIMITED),
    ("server error", ErrorKind.SERVER_ERROR), ("connection failed", ErrorKind.CONNECT),
    ("bad response", ErrorKind.BAD_REPLY), ("authentication failed", ErrorKind.AUTH),
    ("access denied", ErrorKind.DENIED), ("not found", ErrorKind.NOT_FOUND), ("request rejected", ErrorKind.REJECTED),
    ("internal error", ErrorKind.INTERNAL), ("transport error", ErrorKind.TRANSPORT),
    ("unexpected", ErrorKind.TRANSPORT),
)


def legacy_error_kind(error: str | None) -> ErrorKind | None:
    """The kind of a failure recorded before results carried one (reports and stored runs of
    earlier versions), from the lead of its text; None when the text names none."""
    low = (error or "").strip().lower()
    for lead, kind in _LEGACY_LEADS:
        if low.startswith(lead) or (kind is ErrorKind.ABANDONED and lead in low):
            return kind
    return None


def failure_kind(record: Mapping[str, Any]) -> ErrorKind | None:
    """The kind of a failed probe result held as a dict (a report's ``probes``, the store), None
    unless it failed: its ``error_kind``, or for one of an earlier version, its text's."""
    if record.get("status") != STATUS_FAILED:
        return None
    kind = error_kind(record.get("error_kind"))
    return kind if kind is not None else legacy_error_kind(record.get("error"))


def error_kind(value: Any) -> ErrorKind | None:
    """An ``ErrorKind`` from its stored string (None for anything else)."""
    if isinstance(value, ErrorKind) or value is None:
        return value
    try:
        return ErrorKind(str(value))
    except ValueError:
        return None


def token_count(v: Any) -> int | None:
    """A token count from an untrusted reply: a non-negative integer below 10 million, else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not float(v).is_integer():
        return None
    return int(v) if 0 <= v < 10_000_000 else None


@dataclass(frozen=True)
class TokenUsage:
    """Usage as every adapter reports it, whatever its wire format calls the fields.

    ``prompt``: every prompt-side token the endpoint counted, cached ones included (what the
    tokenizer channel compares); ``completion``: the answer's tokens; ``cached``: how many of
    the prompt's were read from a cache. Each None when the endpoint did not say."""

    prompt: int | None = None
    completion: int | None = None
    cached: int | None = None

    @classmethod
    def of(cls, prompt: Any = None, completion: Any = None, cached: Any = None) -> "TokenUsage | None":
        """Checked counts (see ``_count``); None when the reply gave none of them."""
        u = cls(token_count(prompt), token_count(completion), token_count(cached))
        return None if u == cls() else u

    @classmethod
    def from_dict(cls, d: Any) -> "TokenUsage | None":
        if isinstance(d, TokenUsage) or d is None:
            return d
        if not isinstance(d, Mapping):
            return None
        return cls.of(d.get("prompt"), d.get("completion"), d.get("cached"))


def legacy_tokens(usage: Any) -> TokenUsage | None:
    """Normalised usage of a result recorded before adapters normalised it: the two wire formats
    spoken then (OpenAI's ``prompt_tokens``/``completion_tokens``; Anthropic's ``input_tokens``
    plus its cache tokens, ``output_tokens``), read as the tokenizer channel read them."""
    if not isinstance(usage, Mapping):
        return None
    prompt = token_count(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = token_count(details.get("cached_tokens")) if isinstance(details, Mapping) else None
    if prompt is None and token_count(usage.get("input_tokens")) is not None:
        prompt = sum(token_count(usage.get(k)) or 0
                     for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
        cached = token_count(usage.get("cache_read_input_tokens"))
    completion = token_count(usage.get("completion_tokens"))
    if completion is None:
        completion = token_count(usage.get("output_tokens"))
    return TokenUsage.of(prompt, completion, cached)


def now_iso() -> str:
    """The current time as transcripts, reports and the run store write it: ISO-8601 UTC, ms, "...Z"."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_run_id() -> str:
    """A run's id (reports and the run store): sortable and unique, the millisecond time in hex
    plus 8 random hex digits."""
    import secrets
    import time
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


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
    error: str | None = None                # reason when failed, for people
    error_kind: ErrorKind | None = None     # reason when failed, as a type (what code reads)
    request: dict[str, Any] = field(default_factory=dict)   # what was sent, no secrets
    http_status: int | None = None
    latency_ms: float | None = None
    attempts: int = 0
    text: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None     # as the endpoint sent it (evidence; capped)
    tokens: TokenUsage | None = None        # the same, normalised by the adapter
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

    def failed_as(self) -> ErrorKind | None:
        """The kind of this result's failure (None unless it failed): its ``error_kind``, or for a
        result recorded before kinds existed, the one its error text names."""
        if self.status != STATUS_FAILED:
            return None
        return self.error_kind if self.error_kind is not None else legacy_error_kind(self.error)

    def token_usage(self) -> TokenUsage | None:
        """Normalised usage: ``tokens``, or for a result recorded before adapters normalised it,
        the counts its raw ``usage`` gives (``legacy_tokens``)."""
        return self.tokens if self.tokens is not None else legacy_tokens(self.usage)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.error_kind is not None:
            d["error_kind"] = str(self.error_kind)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ProbeResult":
        known = {f for f in cls.__dataclass_fields__}  # type: ignore[attr-defined]
        kw = {k: v for k, v in d.items() if k in known}
        if "probe_id" not in kw or "family" not in kw:
            raise ValueError("probe entry needs 'probe_id' and 'family'")
        kw["error_kind"] = error_kind(kw.get("error_kind"))
        kw["tokens"] = TokenUsage.from_dict(kw.get("tokens"))
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
        cut = sum(1 for r in self.results if r.failed_as() == ErrorKind.DEADLINE)
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
