"""OpenAI-compatible Chat Completions: ``POST {base_url}/chat/completions`` (stream or not).

Streams ask for ``stream_options: {"include_usage": true}`` so the usage of a
streamed reply is observed too. ``list_models`` reads ``GET {base_url}/models``.
"""

from __future__ import annotations

import json
from typing import Any

from ..probes import Probe
from ..settings import RunSettings
from ..transcript import ProbeResult, TokenUsage
from .base import BadReply, Endpoint, Request


class OpenAIEndpoint(Endpoint):
    protocol = "openai"

    def url(self, path: str) -> str:
        return f"{self.target.base_url.rstrip('/')}/{path.lstrip('/')}"

    def build_request(self, probe: Probe) -> Request:
        body: dict[str, Any] = {
            "model": self.target.model,
            "messages": [dict(m) for m in probe.messages],
            "max_tokens": probe.max_tokens,
            "temperature": probe.temperature,
            "stream": bool(probe.stream),
        }
        if probe.stream:
            body["stream_options"] = {"include_usage": True}
        body.update(probe.params or {})
        return Request(self.url("chat/completions"), body, stream=bool(body.get("stream")))

    def auth_headers(self) -> dict[str, str]:
        key = self.target.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def read_capacity(self) -> Any:
        """llama.cpp's ``/props`` slots, TGI's ``/info``, Ollama's ``/api/version``: ``capacity.py``."""
        from .capacity import read_capacity
        return await read_capacity(self)

    def models_url(self) -> str:
        return self.url("models")

    def normalise_usage(self, raw: Any) -> TokenUsage | None:
        """``prompt_tokens`` (cached ones included), ``completion_tokens``,
        ``prompt_tokens_details.cached_tokens``."""
        details = raw.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        return TokenUsage.of(raw.get("prompt_tokens"), raw.get("completion_tokens"), cached)

    # ------------------------------------------------------------ replies
    def _meta(self, doc: dict[str, Any], result: ProbeResult) -> None:
        super()._meta(doc, result)
        if result.system_fingerprint is None and doc.get("system_fingerprint") is not None:
            result.system_fingerprint = self.short(doc.get("system_fingerprint"))
        # Routers (OpenRouter) name the upstream provider that served the request.
        if result.provider is None and isinstance(doc.get("provider"), str):
            result.provider = self.short(doc.get("provider"))

    def _parse_json(self, doc: Any, result: ProbeResult) -> None:
        if not isinstance(doc, dict):
            raise BadReply(f"expected a JSON object, got {type(doc).__name__}")
        if "error" in doc and "choices" not in doc:
            raise BadReply(f"error object in a 2xx reply: {self.error_message(doc) or 'no message'}"[:300])
        self._meta(doc, result)
        self.set_usage(result, doc.get("usage"))
        choices = doc.get("choices")
        if not isinstance(choices, list):
            raise BadReply("no 'choices' list in the reply")
        if not choices:
            raise BadReply("'choices' is empty")
        c0 = choices[0]
        if not isinstance(c0, dict):
            raise BadReply("choice is not an object")
        fr = c0.get("finish_reason")
        result.finish_reason = self.short(fr) if fr is not None else None
        msg = c0.get("message")
        if not isinstance(msg, dict):
            raise BadReply("choice has no 'message' object")
        content = _content_text(msg.get("content"))
        if content is None:
            refusal = msg.get("refusal")
            if isinstance(refusal, str) and refusal:
                content = refusal
        if content is None:
            raise BadReply("message content is null")
        self.set_text(result, content)

    def _parse_stream(self, events, result: ProbeResult) -> None:
        pieces: list[str] = []
        done = False
        finish = None
        seen_chunk = False
        null_deltas = 0
        for ev in events:
            data = ev.data.strip()
            if not data:
                continue
            if data == "[DONE]":
                done = True
                break
            doc = self.event_json(data)
            if "error" in doc and "choices" not in doc:
                raise BadReply(f"error in the stream: {self.error_message(doc) or 'no message'}"[:300])
            choices = doc.get("choices")
            if not isinstance(choices, list):
                raise BadReply("a stream chunk has no 'choices' list")
            self._meta(doc, result)
            if isinstance(doc.get("usage"), dict):
                self.set_usage(result, doc["usage"])
            for c in choices:
                if not isinstance(c, dict) or c.get("index", 0) != 0:
                    continue
                seen_chunk = True
                delta = c.get("delta")
                if isinstance(delta, dict):
                    if "content" in delta and delta["content"] is None and "role" not in delta:
                        null_deltas += 1
                    text = _content_text(delta.get("content"))
                    if text:
                        pieces.append(text)
                if c.get("finish_reason") is not None:
                    finish = c.get("finish_reason")
        result.finish_reason = self.short(finish) if finish is not None else None
        self.set_text(result, "".join(pieces), pieces)
        if not seen_chunk:
            raise BadReply("the stream carried no choices")
        if not pieces and null_deltas:
            raise BadReply("stream content is null")
        if not done and finish is None:
            raise BadReply("the stream ended early (no finish_reason, no [DONE])")


def _content_text(content: Any) -> str | None:
    """String content, or the text parts of a list-of-parts content."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "".join(parts) if parts else None
    return None


async def list_models(base_url: str, *, settings: RunSettings | None = None,
                      api_key: str | None = None, http: Any = None,
                      headers: dict[str, str] | None = None,
                      deadline_at: float | None = None) -> list[str]:
    """Model ids from ``GET {base_url}/models`` (OpenAI list format, or a bare list).

    Raises ``TransportError``/``BadResponse``/``AuthError`` (messages free of the key).
    """
    from ..errors import AuthError, BadResponse, TransportError
    from .http import HttpExecutor, scrub

    settings = settings or RunSettings()
    own = http is None
    ex = http or HttpExecutor(settings)
    secret = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        res = await ex.request("GET", f"{base_url.rstrip('/')}/models", headers=dict(headers or {}),
                               secret_headers=secret, deadline_at=deadline_at)
    finally:
        if own:
            await ex.aclose()
    secrets = [api_key] if api_key else []
    if res.error:
        raise TransportError(scrub(f"listing models failed: {res.error}", secrets))
    if res.status in (401, 403):
        raise AuthError(f"listing models failed: HTTP {res.status}")
    if res.status is None or not 200 <= res.status < 300:
        raise TransportError(f"listing models failed: HTTP {res.status}")
    try:
        doc = json.loads(res.body.decode("utf-8", errors="replace"))
    except ValueError:
        raise BadResponse("listing models failed: reply is not JSON") from None
    items = doc.get("data") if isinstance(doc, dict) else doc
    if isinstance(doc, dict) and items is None:
        items = doc.get("models")
    if not isinstance(items, list):
        raise BadResponse("listing models failed: no 'data' list in the reply")
    out: list[str] = []
    for it in items:
        mid = it.get("id") if isinstance(it, dict) else it
        if isinstance(mid, str) and mid.strip() and len(mid) <= 256:
            out.append(mid.strip())
    return out
