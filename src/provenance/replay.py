"""A loopback server that replays a model's recorded answers (``provenance demo``).

``Replay`` looks an answer up by the request's messages (or its last user prompt) and
the prompt-token count the model's server reported for them; ``ReplayServer`` serves it
as an OpenAI-compatible endpoint on 127.0.0.1 (``POST .../chat/completions``, streamed or
not, with ``usage``; ``GET .../models``), so the demo goes through the real HTTP path::

    with ReplayServer(replay) as srv:
        srv.base_url        # "http://127.0.0.1:PORT/v1"

It binds the loopback interface only, answers every prompt (one it has no answer for gets
``FALLBACK``: a changed probe set still runs), cuts an answer to the request's
``max_tokens`` words as a real server cuts it to tokens, and names itself in its
``Server`` header and ids, so its serving-stack evidence describes the replay server, not
a real stack. Standard library only (``http.server``), one thread per connection.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FALLBACK = "I'm not sure I can help with that."
MAX_BODY = 1 << 20            # the largest request body read
_PIECE = re.compile(r"\s*\S+|\s+")


def messages_key(messages: Any) -> str:
    """The key a recorded conversation is stored under: its messages as canonical JSON."""
    return json.dumps(messages, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def default_usage(messages: list[dict[str, Any]]) -> int:
    """Rough prompt token count: words plus a few per message."""
    n = 0
    for m in messages or []:
        c = m.get("content") if isinstance(m, dict) else None
        if isinstance(c, list):
            c = " ".join(str(p.get("text", "")) for p in c if isinstance(p, dict))
        n += 4 + len(str(c or "").split())
    return n + 2


def pieces_of(text: str) -> list[str]:
    """Stream pieces: each word with its leading whitespace (one completion token each)."""
    return _PIECE.findall(text) or ([text] if text else [])


class Replay:
    """Answers and prompt-token counts looked up by the request's messages (or last user prompt)."""

    def __init__(self, data: dict[str, Any]):
        self.model = str(data["model"])
        self.creator = str(data.get("creator") or "")
        self.model_card = str(data.get("model_card") or self.model)
        self.answers: dict[str, str] = dict(data.get("answers") or {})
        self.by_messages: dict[str, str] = dict(data.get("answers_by_messages") or {})
        self.tokens: dict[str, int] = dict(data.get("prompt_tokens") or {})
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def answer(self, body: dict[str, Any]) -> str:
        msgs = body.get("messages") or []
        text = self.by_messages.get(messages_key(msgs))
        if text is None:
            users = [m.get("content") for m in msgs if isinstance(m, dict) and m.get("role") == "user"]
            text = self.answers.get(users[-1]) if users and isinstance(users[-1], str) else None
        with self._lock:
            if text is None:
                self.misses += 1
            else:
                self.hits += 1
        return FALLBACK if text is None else text

    def usage(self, messages: list[dict[str, Any]]) -> int:
        n = self.tokens.get(messages_key(messages))
        return n if n is not None else default_usage(messages)

    def covers(self, probe: Any) -> bool:
        msgs = [dict(m) for m in probe.messages]
        if messages_key(msgs) in self.by_messages:
            return True
        users = [m["content"] for m in msgs if m.get("role") == "user"]
        return bool(users) and users[-1] in self.answers


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024        # every probe of a run may connect at once
    replay: Replay
    ids: Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"    # keep-alive: every reply has a Content-Length
    server_version = "provenance-replay/1"
    sys_version = ""
    server: _Server

    def log_message(self, *args: Any) -> None:      # quiet: the demo prints its own lines
        pass

    def version_string(self) -> str:
        return self.server_version

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, param: str | None = None) -> None:
        doc = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
        self._send(status, _dump(doc))

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.split("?", 1)[0].rstrip("/").endswith("/models"):
            model = self.server.replay.model
            self._send(200, _dump({"object": "list", "data": [{"id": model, "object": "model", "owned_by": "replay"}]}))
        else:
            self._error(404, f"no route GET {self.path.split('?', 1)[0][:100]}")

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self._error(413, "request body too large")
            self.close_connection = True
            return
        raw = self.rfile.read(n) if n > 0 else b""
        if not self.path.split("?", 1)[0].rstrip("/").endswith("/chat/completions"):
            self._error(404, f"no route POST {self.path.split('?', 1)[0][:100]}")
            return
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        bad = _invalid(body)
        if bad is not None:
            self._error(400, *bad)
            return
        self._complete(body)

    def _complete(self, body: dict[str, Any]) -> None:
        replay = self.server.replay
        rid = f"chatcmpl-replay{next(self.server.ids):08x}"
        created = int(time.time())
        pieces = [p for p in pieces_of(replay.answer(body)) if p]
        limit = body.get("max_tokens", body.get("max_completion_tokens"))
        finish = "stop"
        if isinstance(limit, int) and len(pieces) > limit:
            pieces, finish = pieces[:limit], "length"
        prompt = int(replay.usage(body.get("messages") or []))
        usage = {"prompt_tokens": prompt, "completion_tokens": len(pieces), "total_tokens": prompt + len(pieces)}
        head = {"id": rid, "created": created, "model": replay.model}
        if not body.get("stream"):
            doc = {**head, "object": "chat.completion",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(pieces)},
                                "finish_reason": finish}], "usage": usage}
            self._send(200, _dump(doc))
            return

        def chunk(delta: dict[str, Any] | None, fin: str | None) -> dict[str, Any]:
            return {**head, "object": "chat.completion.chunk",
                    "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": fin}]}

        docs = [chunk({"role": "assistant", "content": ""}, None)] + [chunk({"content": p}, None) for p in pieces]
        docs.append(chunk({}, finish))
        opts = body.get("stream_options")
        if isinstance(opts, dict) and opts.get("include_usage"):
            docs.append({**chunk(None, None), "usage": usage})
        events = b"".join(b"data: " + _dump(d) + b"\n\n" for d in docs) + b"data: [DONE]\n\n"
        self._send(200, events, "text/event-stream; charset=utf-8")


def _invalid(body: Any) -> tuple[str, str | None] | None:
    """(message, param) of a request an OpenAI-compatible server refuses, or None."""
    if not isinstance(body, dict):
        return "request body is not a JSON object", None
    if not isinstance(body.get("model"), str) or not body.get("model"):
        return "you must provide a model parameter", "model"
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return "'messages' must be a non-empty array", "messages"
    mt = body.get("max_tokens", body.get("max_completion_tokens"))
    if mt is not None and (not isinstance(mt, int) or isinstance(mt, bool) or mt < 1):
        return f"Invalid 'max_tokens': expected an integer >= 1, got {mt!r}", "max_tokens"
    t = body.get("temperature")
    if t is not None and (not isinstance(t, (int, float)) or isinstance(t, bool) or not 0 <= t <= 2):
        return f"Invalid 'temperature': {t!r}", "temperature"
    return None


def _dump(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class ReplayServer:
    """``replay`` served on 127.0.0.1 (a free port unless ``port`` is given), in a background
    thread; a context manager (``start``/``stop``)."""

    def __init__(self, replay: Replay, port: int = 0) -> None:
        self.replay = replay
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the replay server is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> "ReplayServer":
        import itertools
        httpd = _Server(("127.0.0.1", self._port), _Handler)
        httpd.replay = self.replay
        httpd.ids = itertools.count(1)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="ReplayServer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(10)
        self._httpd = self._thread = None

    def __enter__(self) -> "ReplayServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
