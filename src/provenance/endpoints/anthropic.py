"""Anthropic Messages API: ``POST {base}/v1/messages`` (stream or not).

The URL is ``{base_url}/messages`` when the base URL already ends in ``/v1``,
else ``{base_url}/v1/messages``. Auth goes in ``x-api-key``; system messages
go to the top-level ``system`` field. Stream events read: message_start (id,
model, input usage), content_block_delta (text_delta pieces), message_delta
(stop_reason, output usage), message_stop, error.
"""

from __future__ import annotations

from typing import Any

from ..probes import Probe
from ..transcript import ProbeResult, TokenUsage, token_count
from .base import BadReply, Endpoint, Request

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicEndpoint(Endpoint):
    protocol = "anthropic"

    def _v1(self) -> str:
        base = self.target.base_url.rstrip("/")
        return base if base.endswith("/v1") else f"{base}/v1"

    def messages_url(self) -> str:
        return f"{self._v1()}/messages"

    def models_url(self) -> str:
        return f"{self._v1()}/models"

    def build_request(self, probe: Probe) -> Request:
        system = [m["content"] for m in probe.messages if m["role"] == "system"]
        msgs = [{"role": m["role"], "content": m["content"]} for m in probe.messages if m["role"] != "system"]
        body: dict[str, Any] = {
            "model": self.target.model,
            "max_tokens": probe.max_tokens,
            "temperature": probe.temperature,
            "messages": msgs,
        }
        if system:
            body["system"] = "\n\n".join(system)
        if probe.stream:
            body["stream"] = True
        body.update(probe.params or {})
        return Request(self.messages_url(), body, stream=bool(body.get("stream")))

    def auth_headers(self) -> dict[str, str]:
        key = self.target.api_key()
        return {"x-api-key": key} if key else {}

    def protocol_headers(self) -> dict[str, str]:
        return {"anthropic-version": ANTHROPIC_VERSION}

    def normalise_usage(self, raw: Any) -> TokenUsage | None:
        """``input_tokens`` plus both cache counts (Anthropic's input excludes them),
        ``output_tokens``, ``cache_read_input_tokens``."""
        prompt = token_count(raw.get("input_tokens"))
        if prompt is not None:
            prompt += sum(token_count(raw.get(k)) or 0 for k in ("cache_creation_input_tokens", "cache_read_input_tokens"))
        return TokenUsage.of(prompt, raw.get("output_tokens"), raw.get("cache_read_input_tokens"))

    # ------------------------------------------------------------ replies
    def _parse_json(self, doc: Any, result: ProbeResult) -> None:
        if not isinstance(doc, dict):
            raise BadReply(f"expected a JSON object, got {type(doc).__name__}")
        if doc.get("type") == "error" or ("error" in doc and "content" not in doc):
            raise BadReply(f"error object in a 2xx reply: {self.error_message(doc) or 'no message'}"[:300])
        self._meta(doc, result)
        self.set_usage(result, doc.get("usage"))
        sr = doc.get("stop_reason")
        result.finish_reason = self.short(sr) if sr is not None else None
        content = doc.get("content")
        if not isinstance(content, list):
            raise BadReply("no 'content' list in the reply")
        texts: list[str] = []
        nulls = 0
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type", "text") == "text":
                t = block.get("text")
                if isinstance(t, str):
                    texts.append(t)
                elif t is None:
                    nulls += 1
        if not texts and nulls:
            raise BadReply("message content is null")
        self.set_text(result, "".join(texts))

    def _parse_stream(self, events, result: ProbeResult) -> None:
        pieces: list[str] = []
        usage: dict[str, Any] = {}
        stop = None
        started = done = False
        nulls = 0
        for ev in events:
            data = ev.data.strip()
            if not data:
                continue
            doc = self.event_json(data)
            typ = doc.get("type") or ev.event
            if typ == "error":
                raise BadReply(f"error in the stream: {self.error_message(doc) or 'no message'}"[:300])
            if typ == "message_start":
                msg = doc.get("message")
                if not isinstance(msg, dict):
                    raise BadReply("message_start without a message object")
                started = True
                self._meta(msg, result)
                if isinstance(msg.get("usage"), dict):
                    usage.update(msg["usage"])
            elif typ == "content_block_delta":
                delta = doc.get("delta")
                if isinstance(delta, dict) and delta.get("type", "text_delta") == "text_delta":
                    t = delta.get("text")
                    if isinstance(t, str):
                        if t:
                            pieces.append(t)
                    elif t is None:
                        nulls += 1
            elif typ == "message_delta":
                delta = doc.get("delta")
                if isinstance(delta, dict) and delta.get("stop_reason") is not None:
                    stop = delta.get("stop_reason")
                if isinstance(doc.get("usage"), dict):
                    usage.update(doc["usage"])
            elif typ == "message_stop":
                done = True
                break
            elif typ not in ("content_block_start", "content_block_stop", "ping"):
                if typ is None:
                    raise BadReply("a stream event has no type")
        result.finish_reason = self.short(stop) if stop is not None else None
        if usage:
            self.set_usage(result, usage)
        self.set_text(result, "".join(pieces), pieces)
        if not started:
            raise BadReply("the stream has no message_start")
        if not pieces and nulls:
            raise BadReply("stream content is null")
        if not done and stop is None:
            raise BadReply("the stream ended early (no stop_reason, no message_stop)")
