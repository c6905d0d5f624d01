"""Google's Gemini API: ``POST {base}/v1beta/models/MODEL:generateContent``, streamed as
``:streamGenerateContent?alt=sse``.

The base URL is ``https://generativelanguage.googleapis.com`` or any URL in front of it (a
proxy's path prefix); one already ending in ``/v1beta`` is taken as it is. A ``models/``
prefix on the model name is dropped. The key goes in ``x-goog-api-key`` (default variable
``GEMINI_API_KEY``). System messages go to ``systemInstruction``, the others to
``contents`` (role ``model`` for the assistant's turns), ``max_tokens`` and ``temperature``
to ``generationConfig`` (``maxOutputTokens``, ``temperature``); a probe's ``params`` are
merged into the body as they are. A reply (each event of a stream too) is a
``GenerateContentResponse``: the text is the first candidate's parts (thought summaries
left out), ``finishReason`` the finish reason, ``usageMetadata`` the usage
(``promptTokenCount``, ``candidatesTokenCount``, ``cachedContentTokenCount``),
``modelVersion`` and ``responseId`` the model echo and id; a candidate with a
``finishReason`` and no text (its budget spent on thinking, a safety stop) is an empty
answer. A stream has no end marker: it is complete when a candidate carried a
``finishReason``. Errors are
``{"error": {"code", "message", "status"}}``; ``RESOURCE_EXHAUSTED`` is rate limiting and
``UNAVAILABLE`` a server error (503), whatever the HTTP status says.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..probes import Probe
from ..transcript import ErrorKind, ProbeResult, TokenUsage
from .base import BadReply, Endpoint, Request

API_VERSION = "v1beta"
# an error body's status -> its kind (the HTTP status decides the rest)
STATUS_KINDS = {"RESOURCE_EXHAUSTED": ErrorKind.RATE_LIMITED, "UNAVAILABLE": ErrorKind.SERVER_ERROR,
                "UNAUTHENTICATED": ErrorKind.AUTH, "PERMISSION_DENIED": ErrorKind.DENIED,
                "NOT_FOUND": ErrorKind.NOT_FOUND}


class GeminiEndpoint(Endpoint):
    protocol = "gemini"

    def api_url(self) -> str:
        base = self.target.base_url.rstrip("/")
        return base if base.endswith(f"/{API_VERSION}") else f"{base}/{API_VERSION}"

    def model_name(self) -> str:
        name = self.target.model
        return name[len("models/"):] if name.startswith("models/") else name

    def build_request(self, probe: Probe) -> Request:
        system = [m["content"] for m in probe.messages if m["role"] == "system"]
        contents = [{"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": m["content"]}]}
                    for m in probe.messages if m["role"] != "system"]
        body: dict[str, Any] = {
            "contents": contents,
            "generationConfig": {"maxOutputTokens": probe.max_tokens, "temperature": probe.temperature},
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
        body.update(probe.params or {})
        stream = bool(probe.stream)
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return Request(f"{self.api_url()}/models/{quote(self.model_name(), safe='-._~')}:{method}", body, stream)

    def auth_headers(self) -> dict[str, str]:
        key = self.target.api_key()
        return {"x-goog-api-key": key} if key else {}

    def models_url(self) -> str:
        return f"{self.api_url()}/models"

    def normalise_usage(self, raw: Any) -> TokenUsage | None:
        """``promptTokenCount`` (cached tokens included), ``candidatesTokenCount``,
        ``cachedContentTokenCount``."""
        return TokenUsage.of(raw.get("promptTokenCount"), raw.get("candidatesTokenCount"),
                             raw.get("cachedContentTokenCount"))

    # ------------------------------------------------------------ errors
    def error_message(self, doc: Any) -> str | None:
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            status = err.get("status")
            return f"{status}: {err['message']}" if isinstance(status, str) and status else err["message"]
        return super().error_message(doc)

    def error_kind_of(self, status: int, doc: Any) -> ErrorKind:
        err = doc.get("error") if isinstance(doc, dict) else None
        named = STATUS_KINDS.get(err.get("status")) if isinstance(err, dict) else None
        return named or super().error_kind_of(status, doc)

    # ------------------------------------------------------------ replies
    def _meta(self, doc: dict[str, Any], result: ProbeResult) -> None:
        if result.response_id is None and doc.get("responseId") is not None:
            result.response_id = self.short(doc.get("responseId"))
        if result.response_model is None and doc.get("modelVersion") is not None:
            result.response_model = self.short(doc.get("modelVersion"))

    def _candidate(self, doc: Any, where: str) -> dict[str, Any] | None:
        """The first candidate of one reply document (None when it has none yet: a stream's
        usage-only event); BadReply for an error or a document of another shape."""
        if not isinstance(doc, dict):
            raise BadReply(f"expected a JSON object, got {type(doc).__name__}")
        if "error" in doc and "candidates" not in doc:
            raise BadReply(f"error {where}: {self.error_message(doc) or 'no message'}"[:300])
        cands = doc.get("candidates")
        if cands is None:
            feedback = doc.get("promptFeedback")
            if isinstance(feedback, dict) and feedback.get("blockReason"):
                raise BadReply(f"the prompt was blocked ({self.short(feedback.get('blockReason'))})")
            if "usageMetadata" in doc or "modelVersion" in doc:
                return None
            raise BadReply("no 'candidates' list in the reply")
        if not isinstance(cands, list):
            raise BadReply("'candidates' is not a list")
        if not cands:
            raise BadReply("'candidates' is empty")
        c0 = cands[0]
        if not isinstance(c0, dict):
            raise BadReply("candidate is not an object")
        return c0

    @staticmethod
    def _texts(candidate: dict[str, Any]) -> tuple[list[str], int]:
        """(the candidate's text parts, thought summaries left out; parts whose text is null)."""
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        texts, nulls = [], 0
        for part in parts if isinstance(parts, list) else []:
            if not isinstance(part, dict) or part.get("thought"):
                continue
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif "text" in part:
                nulls += 1
        return texts, nulls

    def _parse_json(self, doc: Any, result: ProbeResult) -> None:
        c0 = self._candidate(doc, "object in a 2xx reply")
        self._meta(doc, result)
        if isinstance(doc.get("usageMetadata"), dict):
            self.set_usage(result, doc["usageMetadata"])
        if c0 is None:
            raise BadReply("no 'candidates' list in the reply")
        fr = c0.get("finishReason")
        result.finish_reason = self.short(fr) if fr is not None else None
        texts, nulls = self._texts(c0)
        if not texts and (nulls or fr is None):
            # no text and no reason: unusable; no text with a reason (MAX_TOKENS spent on thinking,
            # SAFETY) is an empty answer, and its usage still counts
            raise BadReply("message content is null" if nulls else "the candidate has no text and no finishReason")
        self.set_text(result, "".join(texts))

    def _parse_stream(self, events: Any, result: ProbeResult) -> None:
        pieces: list[str] = []
        finish = None
        seen = False
        nulls = 0
        for ev in events:
            data = ev.data.strip()
            if not data:
                continue
            doc = self.event_json(data)
            c0 = self._candidate(doc, "in the stream")
            self._meta(doc, result)
            if isinstance(doc.get("usageMetadata"), dict):
                self.set_usage(result, doc["usageMetadata"])       # cumulative: the last one counts
            if c0 is None:
                continue
            seen = True
            texts, n = self._texts(c0)
            nulls += n
            pieces.extend(t for t in texts if t)
            if c0.get("finishReason") is not None:
                finish = c0.get("finishReason")
        result.finish_reason = self.short(finish) if finish is not None else None
        self.set_text(result, "".join(pieces), pieces)
        if not seen:
            raise BadReply("the stream carried no candidates")
        if not pieces and nulls:
            raise BadReply("stream content is null")
        if finish is None:
            raise BadReply("the stream ended early (no finishReason)")
