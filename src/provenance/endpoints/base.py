"""The endpoint adapter interface.

An adapter turns a ``Probe`` into one HTTP request for its wire protocol and an
``HTTPResult`` back into a ``ProbeResult``. Everything else (timeouts, retries,
caps, redirects, secrets, error recording) is shared here and in ``http.py``.

What an adapter declares (``Endpoint``): its protocol name, its request
(``build_request``: URL, body and whether the reply streams), its key header
(``auth_headers``), its models and liveness URLs, its usage normalised
(``normalise_usage``: prompt, completion and cached tokens), its error shape
(``error_message``, ``error_kind_of``) and how to read a reply (``_parse_json``,
``_parse_stream``). Its default key variable and help text are its line in
``registry.py``.

Adding a protocol = one module with an ``Endpoint`` subclass + one line in
``registry.PROTOCOLS``. Modules are imported lazily by ``get_endpoint_class``.

Usage::

    ep = make_endpoint(target, settings)
    async with ep:                       # opens (and later closes) its HTTP client
        result = await ep.run_probe(probe, deadline_at=loop.time() + 60)
"""

from __future__ import annotations

import asyncio
import importlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import ConfigError
from ..probes import Probe
from ..settings import RunSettings, Target, redact_url
from ..transcript import (MAX_CHUNKS, MAX_ERROR_CHARS, MAX_TEXT_CHARS, STATUS_FAILED, STATUS_OK, ErrorKind,
                          ProbeResult, TokenUsage, cap_text, filter_headers)
from . import registry

if TYPE_CHECKING:  # pragma: no cover
    from .http import HTTPResult, HttpExecutor

_SECRETISH = ("auth", "key", "token", "secret", "cookie", "session", "password")
MAX_FIELD_CHARS = 256

# an error reply's HTTP status -> its kind (an adapter may read its body too: error_kind_of)
STATUS_KINDS = {401: ErrorKind.AUTH, 403: ErrorKind.DENIED, 404: ErrorKind.NOT_FOUND, 429: ErrorKind.RATE_LIMITED}
# each kind's lead in the recorded error text
LEADS = {ErrorKind.AUTH: "authentication failed", ErrorKind.DENIED: "access denied", ErrorKind.NOT_FOUND: "not found",
         ErrorKind.RATE_LIMITED: "rate limited", ErrorKind.SERVER_ERROR: "server error",
         ErrorKind.REJECTED: "request rejected"}


def get_endpoint_class(protocol: str) -> type["Endpoint"]:
    spec = registry.get(protocol)
    if spec is None:
        raise ConfigError(f"unknown protocol {protocol!r}: use one of {', '.join(registry.names())}")
    mod_name, _, cls_name = spec.adapter.partition(":")
    mod = importlib.import_module(f"{__package__}.{mod_name}")
    return getattr(mod, cls_name)


def make_endpoint(target: Target, settings: RunSettings, **kw: Any) -> "Endpoint":
    return get_endpoint_class(target.protocol)(target, settings, **kw)


class BadReply(Exception):
    """The reply could not be understood; the message is the recorded reason."""


@dataclass(frozen=True)
class Request:
    """One probe's request: where it goes, its JSON body, and whether the reply is a stream of
    server-sent events (a protocol may say so in the body, or by the URL)."""

    url: str
    body: dict[str, Any]
    stream: bool = False


class Endpoint(ABC):
    """One target spoken to in one wire protocol."""

    protocol: ClassVar[str] = ""            # its name in registry.PROTOCOLS

    def __init__(self, target: Target, settings: RunSettings, *, http: "HttpExecutor | None" = None) -> None:
        self.target = target
        self.settings = settings
        self._http = http
        self._owns_http = http is None
        self._depth = 0

    @classmethod
    def key_env(cls) -> str:
        """The environment variable the key is read from when ``--api-key-env`` is not given."""
        spec = registry.get(cls.protocol)
        return spec.key_env if spec is not None else ""

    # ------------------------------------------------------------ protocol hooks
    @abstractmethod
    def build_request(self, probe: Probe) -> Request:
        """This probe's request (probe.params merged into the body); ``stream`` says whether the
        reply comes as server-sent events."""

    @abstractmethod
    def auth_headers(self) -> dict[str, str]:
        """Secret headers (never recorded)."""

    def protocol_headers(self) -> dict[str, str]:
        """Non-secret headers the protocol needs (recorded)."""
        return {}

    async def read_capacity(self) -> Any:
        """What the server says it can take (``endpoints/capacity.Capacity``), asked once before a
        run's first probe; None: it says nothing (the default for a protocol that has no such thing)."""
        return None

    @abstractmethod
    def models_url(self) -> str | None:
        """``GET`` here lists the models the endpoint serves (None: the protocol has no such list)."""

    def liveness_url(self) -> str | None:
        """A cheap ``GET`` any live server of this protocol answers (any HTTP status counts): the
        check that a silent endpoint is alive at all (``probing/one_target.py``)."""
        return self.models_url()

    @abstractmethod
    def normalise_usage(self, raw: Any) -> TokenUsage | None:
        """The reply's usage object (as its wire format names the fields) as prompt, completion
        and cached tokens; the prompt counts every prompt-side token, cached ones included."""

    def set_usage(self, result: ProbeResult, raw: Any) -> None:
        """Record a reply's usage: as sent (capped, evidence) and normalised."""
        result.usage = cap_usage(raw)
        result.tokens = self.normalise_usage(raw) if isinstance(raw, dict) else None

    def error_kind_of(self, status: int, doc: Any) -> ErrorKind:
        """The kind of an error reply: by its HTTP status (a protocol whose error body says more
        reads ``doc`` too)."""
        kind = STATUS_KINDS.get(status)
        if kind is not None:
            return kind
        return ErrorKind.SERVER_ERROR if status >= 500 else ErrorKind.REJECTED

    def parse_reply(self, probe: Probe, reply: "HTTPResult", result: ProbeResult) -> None:
        """Fill ``result`` from a 2xx reply (JSON body or SSE events); raise BadReply if unusable."""
        if reply.is_sse:
            self._parse_stream(reply.events, result)
        else:
            self._parse_json(self.json_body(reply), result)

    @abstractmethod
    def _parse_json(self, doc: Any, result: ProbeResult) -> None:
        """Fill ``result`` from a non-streamed JSON reply."""

    @abstractmethod
    def _parse_stream(self, events: Any, result: ProbeResult) -> None:
        """Fill ``result`` from the SSE events of a streamed reply."""

    @staticmethod
    def event_json(data: str) -> dict[str, Any]:
        """One SSE event's data as a JSON object; BadReply otherwise."""
        try:
            doc = json.loads(data)
        except ValueError:
            raise BadReply("a stream event is not JSON") from None
        if not isinstance(doc, dict):
            raise BadReply("a stream event is not a JSON object")
        return doc

    def _meta(self, doc: dict[str, Any], result: ProbeResult) -> None:
        """Response id and model echo, the first time a reply document names them."""
        if result.response_id is None and doc.get("id") is not None:
            result.response_id = self.short(doc.get("id"))
        if result.response_model is None and doc.get("model") is not None:
            result.response_model = self.short(doc.get("model"))

    def error_message(self, doc: Any) -> str | None:
        """The human message inside an error reply body, if any."""
        if isinstance(doc, dict):
            err = doc.get("error")
            if isinstance(err, dict):
                m = err.get("message")
                t = err.get("type") or err.get("code")
                if isinstance(m, str):
                    return f"{t}: {m}" if isinstance(t, str) and t else m
            if isinstance(err, str):
                return err
            if isinstance(doc.get("message"), str):
                return doc["message"]
            if isinstance(doc.get("detail"), str):
                return doc["detail"]
        return None

    # ------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> "Endpoint":
        if self._http is None:
            from .http import HttpExecutor
            self._http = HttpExecutor(self.settings)
            self._owns_http = True
        self._depth += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth <= 0 and self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    @property
    def http(self) -> "HttpExecutor":
        if self._http is None:
            raise RuntimeError("use 'async with endpoint:' before sending requests")
        return self._http

    # ------------------------------------------------------------ helpers
    def public_headers(self) -> dict[str, str]:
        """Headers sent and recorded: protocol headers and user headers (secret-looking ones redacted)."""
        out = dict(self.protocol_headers())
        out.update(self.target.headers)
        return out

    def recorded_headers(self) -> dict[str, str]:
        rec = {"user-agent": self.settings.user_agent, "content-type": "application/json"}
        for k, v in self.public_headers().items():
            rec[k.lower()] = "[redacted]" if any(w in k.lower() for w in _SECRETISH) else v
        return rec

    def secrets(self) -> list[str]:
        vals = [v for v in self.auth_headers().values() if v]
        key = self.target.api_key()
        if key:
            vals.append(key)
        for k, v in self.target.headers.items():
            if any(w in k.lower() for w in _SECRETISH) and v:
                vals.append(v)
        return vals

    # ------------------------------------------------------------ the probe
    async def run_probe(self, probe: Probe, *, deadline_at: float | None = None) -> ProbeResult:
        """Send one probe and record everything. Never raises for endpoint faults."""
        from .http import scrub, scrub_obj
        result = ProbeResult(probe_id=probe.id, family=probe.family, stream=bool(probe.stream))
        secrets = self.secrets()
        try:
            req = self.build_request(probe)
            result.stream = req.stream
            result.request = {"method": "POST", "url": redact_url(req.url),
                              "headers": self.recorded_headers(), "json": req.body}
            reply = await self.http.request(
                "POST", req.url, json_body=req.body, headers=self.public_headers(),
                secret_headers=self.auth_headers(), stream=req.stream, deadline_at=deadline_at)
            self._record(probe, reply, result)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - recorded, never raised
            result.status = STATUS_FAILED
            result.error_kind = ErrorKind.INTERNAL
            result.error = f"internal error: {type(e).__name__}: {str(e)[:200]}"
        if secrets:
            for name in ("error", "text", "error_body", "chunks", "headers", "request",
                         "response_id", "response_model", "system_fingerprint", "usage"):
                setattr(result, name, scrub_obj(getattr(result, name), secrets))
            if result.error:
                result.error = scrub(result.error, secrets)
        if result.error:
            result.error = _one_line(result.error)
        return result

    def _record(self, probe: Probe, reply: "HTTPResult", result: ProbeResult) -> None:
        result.attempts = reply.attempts
        result.latency_ms = reply.latency_ms
        result.http_status = reply.status
        result.headers = filter_headers(reply.headers)
        result.truncated = reply.truncated
        if reply.error is not None:
            result.status = STATUS_FAILED
            result.error = reply.error
            result.error_kind = reply.error_kind or ErrorKind.TRANSPORT
            return
        status = reply.status or 0
        if not 200 <= status < 300:
            doc = _loads(reply.body)
            result.error_body = cap_json(doc if doc is not None else reply.body.decode("utf-8", "replace"))
            msg = self.error_message(doc)
            if probe.mode == "invalid" and 400 <= status < 500 and doc is not None:
                result.status = STATUS_OK          # the error reply IS the observation
                return
            result.status = STATUS_FAILED
            result.error_kind = self.error_kind_of(status, doc)
            lead = LEADS.get(result.error_kind, "request rejected")
            extra = f" after {reply.attempts} attempts" if reply.attempts > 1 else ""
            result.error = f"{lead}: HTTP {status}{extra}" + (f": {msg}" if msg else "")
            return
        try:
            self.parse_reply(probe, reply, result)
            if result.status != STATUS_FAILED:
                result.status = STATUS_OK
        except BadReply as e:
            result.status = STATUS_FAILED
            result.error_kind = ErrorKind.BAD_REPLY
            why = str(e)
            if reply.truncated:
                why += f" (reply body truncated at {self.settings.max_body_bytes} bytes)"
            result.error = f"bad response: {why}"

    # ------------------------------------------------------------ shared parsing helpers
    @staticmethod
    def json_body(reply: "HTTPResult") -> Any:
        if not reply.body:
            raise BadReply("empty body")
        doc = _loads(reply.body)
        if doc is None:
            raise BadReply("body is not JSON")
        return doc

    @staticmethod
    def set_text(result: ProbeResult, text: str | None, chunks: list[str] | None = None) -> None:
        t, cut = cap_text(text)
        result.text = t
        result.truncated = result.truncated or cut
        if chunks is not None:
            if len(chunks) > MAX_CHUNKS:
                chunks = chunks[:MAX_CHUNKS]
                result.truncated = True
            total, kept = 0, []
            for c in chunks:
                total += len(c)
                if total > MAX_TEXT_CHARS:
                    result.truncated = True
                    break
                kept.append(c)
            result.chunks = kept

    @staticmethod
    def short(v: Any) -> str | None:
        if v is None:
            return None
        return str(v)[:MAX_FIELD_CHARS]


def _loads(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError:
        return None


def cap_json(doc: Any, limit: int = MAX_ERROR_CHARS) -> Any:
    """A JSON-like value kept only when small; otherwise its capped text."""
    try:
        blob = json.dumps(doc, ensure_ascii=False)
    except (TypeError, ValueError):
        blob = str(doc)
        doc = blob
    if len(blob) <= limit:
        return doc
    return blob[:limit]


def cap_usage(u: Any) -> dict[str, Any] | None:
    if not isinstance(u, dict):
        return None
    v = cap_json(u, 1000)
    return v if isinstance(v, dict) else None


def _one_line(s: str) -> str:
    s = " ".join(str(s).split())
    return s[:MAX_ERROR_CHARS]
