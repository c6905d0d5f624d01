"""A real HTTP server on 127.0.0.1 that speaks like an LLM endpoint, for tests and benchmarks.

It runs an asyncio HTTP/1.1 server (keep-alive, chunked streaming) in one
background thread, so hundreds of slow concurrent connections cost one thread.

Protocols (any path prefix is accepted, so one server can pose as many endpoints
through ``url_for(name)``):

* OpenAI-compatible ``POST .../chat/completions`` (stream and not, ``usage``,
  ``stream_options.include_usage``, ``id: chatcmpl-...``, ``system_fingerprint``)
  and ``GET .../models``.
* Anthropic ``POST .../messages`` (stream events message_start ...
  message_stop, and not).
* Google's Gemini ``POST .../v1beta/models/MODEL:generateContent`` and
  ``:streamGenerateContent?alt=sse`` (``candidates``, ``usageMetadata``, events
  separated by CRLF and no end marker, as Google sends them), ``GET .../v1beta/models``,
  and Gemini's error shape ``{"error": {"code", "message", "status"}}``. Its
  ``answer_fn`` sees the request as OpenAI's shape (``messages``, ``max_tokens``), so one
  answer function serves every protocol.

Behaviour is pluggable::

    with FakeLLMServer(answer_fn=lambda body: "I am Fake.", latency=0.05,
                       faults=[Fault.status(429, retry_after="1"), Fault.status(503)]) as srv:
        srv.base_url            # "http://127.0.0.1:PORT/v1"   (OpenAI style)
        srv.anthropic_base_url  # "http://127.0.0.1:PORT"      (Anthropic style, /v1/messages)
        srv.base_for("gemini")  # "http://127.0.0.1:PORT"      (each protocol's base URL; name= a prefix)
        srv.url_for("ep7")      # "http://127.0.0.1:PORT/ep7/v1"
        srv.requests            # list[RecordedRequest]: what clients sent (headers incl. auth)

``faults`` are consumed one per request, in arrival order; afterwards the server
answers normally. ``fault_fn(request) -> Fault | None`` decides per request
(checked first). ``add_faults(...)`` queues more at run time.

Hooks: ``answer_fn(body) -> str`` (or ``answer_fn(body, request)``),
``usage_fn(messages) -> prompt_tokens``, ``chunk_fn(text) -> list[str]`` (stream
pieces; completion_tokens = number of pieces). Options: ``latency`` (seconds
before each reply), ``chunk_delay`` (between stream pieces), ``headers`` (added
to every reply), ``model`` (reported model; default: echo the request's),
``models`` (for ``/models``), ``system_fingerprint``, ``extra_fields`` (merged
into every OpenAI-style reply and chunk, e.g. OpenRouter's ``provider``), ``report_usage``,
``ignore_stream`` (answer JSON even when a stream is asked), ``api_key``
(when set, other keys get 401), ``slots`` (serve this many POSTs at once, each
taking ``latency``; the rest wait in a queue, first come first served, as a
llama.cpp server with that many slots does; ``busy_peak`` says how many were
served at once), ``latency_fn(body) -> seconds`` (each POST's own time instead
of ``latency``, e.g. in proportion to the tokens it generates), ``slot_slowdown``
(with ``slots``: each other slot busy when a request starts lengthens its time
by this fraction, as slots sharing one CPU do), ``cancel_on_disconnect`` (with ``slots``:
a request whose client closed its connection gives up its slot at once, as llama.cpp
cancels the task; ``cancelled`` counts them). The status line of a reply is
sent only once its time is up, as llama.cpp does for a whole (non-streamed) reply.
``describe`` (path -> JSON document) answers ``GET`` of those paths, as servers that
describe themselves do: ``{"/props": {"total_slots": 4}}`` is what llama.cpp says of its
slots (``endpoints/capacity.py`` reads it).

Benchmarks that want the server's CPU off the client's GIL can run it in its own
process: ``python -m provenance.testing.fakeserver --latency 1`` prints
``READY <base_url>`` on stdout and serves until stdin closes or it is killed.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import re
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Callable, Iterable, Iterator

from ..replay import default_usage  # noqa: F401 - re-exported: the rough prompt-token count
from ..replay import pieces_of as default_chunks      # stream pieces: each word with its leading whitespace

__all__ = ["FakeLLMServer", "Fault", "RecordedRequest", "default_chunks", "default_usage"]

BAD_UTF8_MARKER = "@@BAD-UTF8@@"
_GEMINI = re.compile(r"/v1beta/models/([^/:]+):(generateContent|streamGenerateContent)$")
# Gemini's error statuses by HTTP status
GEMINI_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
GEMINI_FIELDS = frozenset({"contents", "systemInstruction", "generationConfig", "safetySettings", "tools",
                           "toolConfig", "cachedContent"})
BAD_UTF8_BYTES = b"\xff\xfe\xc3("


# --------------------------------------------------------------------------- faults

@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour. Build with the class methods below."""

    kind: str
    status_code: int = 200
    retry_after: str | None = None
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    location: str | None = None
    interval: float = 1.0
    after_bytes: int = 0
    nbytes: int = 0
    sizes: tuple[int, ...] = (1, 2, 3, 5, 7, 11, 13)
    delay: float = 0.0
    gate: Any = None               # a threading.Event (Fault.until)

    # Transport-level
    @classmethod
    def status(cls, code: int, retry_after: str | int | float | None = None,
               body: bytes | str | dict | None = None, headers: dict[str, str] | None = None) -> "Fault":
        """Answer with HTTP ``code`` (JSON error body unless ``body`` given)."""
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        ra = None if retry_after is None else str(retry_after)
        return cls("status", status_code=code, retry_after=ra, body=body,
                   headers=tuple((headers or {}).items()))

    @classmethod
    def hang(cls) -> "Fault":
        """Read the request, then never answer (until the server stops)."""
        return cls("hang")

    @classmethod
    def disconnect(cls) -> "Fault":
        """Read the request, then close the connection without a reply."""
        return cls("disconnect")

    @classmethod
    def trickle(cls, interval: float = 1.0) -> "Fault":
        """Send the headers, then the (normal) body one byte per ``interval`` seconds."""
        return cls("trickle", interval=interval)

    @classmethod
    def stall(cls, after_bytes: int = 20) -> "Fault":
        """Send the headers and the first ``after_bytes`` of the body, then nothing more (a stalled stream)."""
        return cls("stall", after_bytes=after_bytes)

    @classmethod
    def reset(cls, after_bytes: int = 20) -> "Fault":
        """Announce the full body, send ``after_bytes`` of it, then abort the connection."""
        return cls("reset", after_bytes=after_bytes)

    @classmethod
    def redirect(cls, location: str, status: int = 307) -> "Fault":
        return cls("redirect", status_code=status, location=location)

    @classmethod
    def until(cls, gate: threading.Event) -> "Fault":
        """Answer normally once ``gate`` is set (by the test, on an event it chose): a server
        that crawls, then recovers, with no timing in the test."""
        return cls("until", gate=gate)

    @classmethod
    def delay_(cls, seconds: float) -> "Fault":
        """Answer normally after ``seconds``."""
        return cls("delay", delay=seconds)

    # Content-level
    @classmethod
    def malformed_json(cls) -> "Fault":
        return cls("malformed")

    @classmethod
    def wrong_shape(cls) -> "Fault":
        return cls("wrong_shape")

    @classmethod
    def empty_choices(cls) -> "Fault":
        return cls("empty_choices")

    @classmethod
    def null_content(cls) -> "Fault":
        return cls("null_content")

    @classmethod
    def no_done(cls) -> "Fault":
        """Stream without the final ``data: [DONE]`` (OpenAI) / ``message_stop`` (Anthropic)."""
        return cls("no_done")

    @classmethod
    def split(cls, sizes: Iterable[int] = (1, 2, 3, 5, 7, 11, 13)) -> "Fault":
        """Write the body in pieces of these sizes (cycled), each flushed on its own."""
        return cls("split", sizes=tuple(max(1, int(s)) for s in sizes))

    @classmethod
    def bad_utf8(cls) -> "Fault":
        """Put invalid UTF-8 bytes inside the answer text."""
        return cls("bad_utf8")

    @classmethod
    def huge(cls, nbytes: int = 50_000_000) -> "Fault":
        """A valid-looking reply whose body is ``nbytes`` long."""
        return cls("huge", nbytes=nbytes)

    @classmethod
    def gzip_bomb(cls, nbytes: int = 50_000_000) -> "Fault":
        """A small gzip body that inflates to ``nbytes`` (Content-Encoding: gzip).

        The OpenAI-shaped bomb is compressed here, once, so serving it costs nothing."""
        return cls("gzip_bomb", nbytes=nbytes, body=_gzip_of(_huge_body(nbytes, False)))


# --------------------------------------------------------------------------- records

@dataclass
class RecordedRequest:
    method: str
    path: str                      # without the query string
    query: str
    headers: dict[str, str]        # lower-case names (includes auth: tests assert on it)
    body: bytes
    json: Any                      # parsed body or None
    received_at: float
    fault: str | None = None       # kind of the fault applied, if any
    raw_headers: list[tuple[str, str]] = field(default_factory=list)


def _default_answer(body: dict[str, Any]) -> str:
    msgs = body.get("messages") or []
    last = ""
    for m in reversed(msgs):
        if isinstance(m, dict) and m.get("role") == "user":
            c = m.get("content")
            last = c if isinstance(c, str) else json.dumps(c)
            break
    return f"I am a fake model. You said: {last[:200]}"


# --------------------------------------------------------------------------- server

class _BadRequest(Exception):
    pass


class FakeLLMServer:
    """Local fake LLM endpoint. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        answer_fn: Callable[..., str] | None = None,
        latency: float = 0.0,
        faults: Iterable[Fault] = (),
        fault_fn: Callable[[RecordedRequest], Fault | None] | None = None,
        headers: dict[str, str] | None = None,
        usage_fn: Callable[[list[dict[str, Any]]], int] | None = None,
        chunk_fn: Callable[[str], list[str]] | None = None,
        chunk_delay: float = 0.0,
        model: str | None = None,
        models: Iterable[str] = ("fake-model",),
        system_fingerprint: str | None = "fp_fake0001",
        extra_fields: dict[str, Any] | None = None,
        report_usage: bool = True,
        ignore_stream: bool = False,
        api_key: str | None = None,
        slots: int | None = None,
        latency_fn: Callable[[Any], float] | None = None,
        slot_slowdown: float = 0.0,
        describe: dict[str, Any] | None = None,
        cancel_on_disconnect: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.answer_fn = answer_fn or _default_answer
        self._answer_takes_request = _arity(self.answer_fn) >= 2
        self.latency = float(latency)
        self.fault_fn = fault_fn
        self.extra_headers = dict(headers or {})
        self.usage_fn = usage_fn or default_usage
        self.chunk_fn = chunk_fn or default_chunks
        self.chunk_delay = float(chunk_delay)
        self.model = model
        self.models = list(models)
        self.system_fingerprint = system_fingerprint
        self.extra_fields = dict(extra_fields or {})
        self.report_usage = report_usage
        self.ignore_stream = ignore_stream
        self.api_key = api_key
        self.slots = slots
        self.latency_fn = latency_fn
        self.slot_slowdown = float(slot_slowdown)
        self.describe = dict(describe or {})
        self.cancel_on_disconnect = cancel_on_disconnect
        self.cancelled = 0
        self._slot_sem: asyncio.Semaphore | None = None
        self.busy_peak = 0
        self._busy = 0
        self.host = host
        self._want_port = port
        self.port: int | None = None
        self._faults: deque[Fault] = deque(faults)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping: asyncio.Event | None = None

    # ------------------------------------------------------------ public API
    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL (``.../v1``)."""
        return f"{self.origin}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Anthropic-style base URL (the client appends ``/v1/messages``)."""
        return self.origin

    def url_for(self, name: str) -> str:
        """A distinct base URL on this same server (``http://127.0.0.1:PORT/<name>/v1``)."""
        return f"{self.origin}/{name.strip('/')}/v1"

    def base_for(self, protocol: str, name: str | None = None) -> str:
        """The base URL a client of ``protocol`` is given for this server (under the path
        prefix ``/<name>`` when given): OpenAI's ends in ``/v1``, Anthropic's and Gemini's are
        the root the client appends its paths to."""
        root = self.origin + (f"/{name.strip('/')}" if name else "")
        if protocol == "openai":
            return f"{root}/v1"
        if protocol in ("anthropic", "gemini"):
            return root
        raise ValueError(f"the fake server does not speak {protocol!r}")

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def add_faults(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def start(self) -> "FakeLLMServer":
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="FakeLLMServer", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise RuntimeError(f"fake server failed to start: {self._error}")
        if self.port is None:
            raise RuntimeError("fake server did not start in time")
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            fut.result(10)
        except Exception:  # noqa: BLE001 - best effort on teardown
            pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = None

    def __enter__(self) -> "FakeLLMServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ loop thread
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as e:  # noqa: BLE001
            self._error = e
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(self._on_conn, self.host, self._want_port,
                                                  backlog=2048, limit=1 << 20)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        assert self._stopping is not None
        self._stopping.set()
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            try:
                w.transport.abort()
            except Exception:  # noqa: BLE001
                pass
        tasks = [t for t in self._tasks if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2)
            except Exception:  # noqa: BLE001
                pass

    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            while True:
                keep = await self._one_request(reader, writer)
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError,
                asyncio.LimitOverrunError, ValueError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            try:
                writer.close()
            except Exception:  # noqa: BLE001
                pass

    # ------------------------------------------------------------ HTTP
    async def _read_request(self, reader: asyncio.StreamReader) -> RecordedRequest | None:
        line = await reader.readline()
        if not line or not line.strip():
            return None
        parts = line.decode("latin-1").strip().split()
        if len(parts) != 3:
            raise _BadRequest("bad request line")
        method, target, _version = parts
        raw_headers: list[tuple[str, str]] = []
        while True:
            h = await reader.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            raw_headers.append((k.strip(), v.strip()))
        headers = {k.lower(): v for k, v in raw_headers}
        body = b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size_line = await reader.readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    await reader.readline()
                    break
                chunks.append(await reader.readexactly(size))
                await reader.readline()
            body = b"".join(chunks)
        elif headers.get("content-length"):
            body = await reader.readexactly(int(headers["content-length"]))
        path, _, query = target.partition("?")
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        return RecordedRequest(method=method.upper(), path=path, query=query, headers=headers,
                               body=body, json=parsed, received_at=time.time(),
                               raw_headers=raw_headers)

    def _latency_of(self, req: RecordedRequest) -> float:
        if self.latency_fn is None:
            return self.latency
        try:
            return max(0.0, float(self.latency_fn(req.json)))
        except Exception:  # noqa: BLE001 - a test's hook that cannot read this body: the default
            return self.latency

    def _next_fault(self, req: RecordedRequest) -> Fault | None:
        if self.fault_fn is not None:
            f = self.fault_fn(req)
            if f is not None:
                return f
        with self._lock:
            return self._faults.popleft() if self._faults else None

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            req = await self._read_request(reader)
        except _BadRequest:
            await self._send(writer, 400, [], b'{"error":{"message":"bad request"}}', keep=False)
            return False
        if req is None:
            return False
        fault = self._next_fault(req)
        req.fault = fault.kind if fault else None
        with self._lock:
            self._requests.append(req)
        keep = req.headers.get("connection", "").lower() != "close"

        if self.slots and req.method == "POST" and fault is None:
            # llama.cpp-style slots: this many requests are served at once, the rest wait their turn
            if self._slot_sem is None:
                self._slot_sem = asyncio.Semaphore(self.slots)
            async with self._slot_sem:
                self._busy += 1
                self.busy_peak = max(self.busy_peak, self._busy)
                try:
                    delay = self._latency_of(req) * (1.0 + self.slot_slowdown * (self._busy - 1))
                    if self.cancel_on_disconnect:
                        if not await self._work_unless_gone(reader, delay):
                            self.cancelled += 1
                            return False
                    elif delay > 0:
                        await asyncio.sleep(delay)
                    status, hdrs, payload = self._route(req, fault)
                    return await self._deliver(writer, status, hdrs, payload, fault, keep)
                finally:
                    self._busy -= 1
        delay = self._latency_of(req) if req.method == "POST" else self.latency
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is not None:
            if fault.kind == "delay":
                await asyncio.sleep(fault.delay)
            elif fault.kind == "until":
                assert self._stopping is not None
                while not fault.gate.is_set() and not self._stopping.is_set():
                    await asyncio.sleep(0.01)
                if self._stopping.is_set():
                    return False
            elif fault.kind == "hang":
                assert self._stopping is not None
                await self._stopping.wait()
                return False
            elif fault.kind == "disconnect":
                return False
            elif fault.kind == "status":
                hdrs = list(fault.headers)
                if fault.retry_after is not None:
                    hdrs.append(("Retry-After", fault.retry_after))
                body = fault.body if fault.body is not None else self._error_body(req, fault.status_code)
                await self._send(writer, fault.status_code, hdrs, body, keep=keep)
                return keep
            elif fault.kind == "redirect":
                await self._send(writer, fault.status_code, [("Location", fault.location or "/")],
                                 b"", keep=keep)
                return keep

        status, hdrs, payload = self._route(req, fault)
        return await self._deliver(writer, status, hdrs, payload, fault, keep)

    @staticmethod
    async def _work_unless_gone(reader: asyncio.StreamReader, seconds: float) -> bool:
        """A slot's work of ``seconds``, given up as soon as the client has closed its connection
        (as llama.cpp cancels the task of a client that went away); False when it was."""
        loop = asyncio.get_running_loop()
        end = loop.time() + max(0.0, seconds)
        while True:
            if reader.at_eof():
                return False
            left = end - loop.time()
            if left <= 0:
                return True
            await asyncio.sleep(min(0.02, left))

    def _error_body(self, req: RecordedRequest, code: int) -> bytes:
        msg = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "error"
        if _GEMINI.search(req.path) or req.path.rstrip("/").endswith("/v1beta/models"):
            status = GEMINI_STATUS.get(code, "INTERNAL" if code >= 500 else "FAILED_PRECONDITION")
            return json.dumps({"error": {"code": code, "message": msg, "status": status}}).encode()
        if req.path.endswith("/messages"):
            typ = {429: "rate_limit_error", 529: "overloaded_error", 401: "authentication_error"}.get(code, "api_error")
            return json.dumps({"type": "error", "error": {"type": typ, "message": msg}}).encode()
        typ = {429: "rate_limit_exceeded", 401: "invalid_api_key"}.get(code, "server_error")
        return json.dumps({"error": {"message": msg, "type": typ, "param": None, "code": None}}).encode()

    async def _send(self, writer: asyncio.StreamWriter, status: int, headers: list[tuple[str, str]],
                    body: bytes, *, keep: bool = True) -> None:
        head = self._head(status, headers + [("Content-Length", str(len(body)))], keep)
        writer.write(head + body)
        await writer.drain()

    def _head(self, status: int, headers: list[tuple[str, str]], keep: bool) -> bytes:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        names = {k.lower() for k, _ in headers}
        lines = [f"HTTP/1.1 {status} {phrase}"]
        if "content-type" not in names:
            lines.append("Content-Type: application/json")
        lines.append("Server: fake-llm/1.0")
        lines.append(f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}")
        for k, v in self.extra_headers.items():
            if k.lower() not in names:
                lines.append(f"{k}: {v}")
        for k, v in headers:
            lines.append(f"{k}: {v}")
        lines.append(f"Connection: {'keep-alive' if keep else 'close'}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    # ------------------------------------------------------------ routing
    def _route(self, req: RecordedRequest, fault: Fault | None):
        """-> (status, headers, payload) where payload is bytes or a list of stream events."""
        if self.api_key is not None:
            got = req.headers.get("x-api-key") or req.headers.get("x-goog-api-key")
            auth = req.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                got = auth[7:].strip()
            if got != self.api_key:
                return 401, [], self._error_body(req, 401)
        if req.method == "GET" and req.path in self.describe:
            return 200, [], json.dumps(self.describe[req.path]).encode()
        if req.method == "GET" and req.path.rstrip("/").endswith("/v1beta/models"):
            data = [{"name": f"models/{m}", "displayName": m, "supportedGenerationMethods": ["generateContent"]}
                    for m in self.models]
            return 200, [], json.dumps({"models": data}).encode()
        gm = _GEMINI.search(req.path)
        if req.method == "POST" and gm is not None:
            return self._gemini(req, fault, gm.group(1), gm.group(2) == "streamGenerateContent")
        if req.method == "GET" and req.path.endswith("/models"):
            now = int(time.time())
            data = [{"id": m, "object": "model", "created": now, "owned_by": "fake"} for m in self.models]
            return 200, [], json.dumps({"object": "list", "data": data}).encode()
        if req.method == "POST" and req.path.endswith("/chat/completions"):
            return self._openai(req, fault)
        if req.method == "POST" and req.path.endswith("/messages"):
            return self._anthropic(req, fault)
        return 404, [], json.dumps({"error": {"message": f"no route {req.method} {req.path}",
                                              "type": "not_found"}}).encode()

    def _answer(self, body: dict[str, Any], req: RecordedRequest) -> str:
        if self._answer_takes_request:
            return str(self.answer_fn(body, req))
        return str(self.answer_fn(body))

    def _pieces(self, text: str, max_tokens: int | None) -> tuple[list[str], str]:
        pieces = [p for p in self.chunk_fn(text) if p != ""]
        finish = "stop"
        if max_tokens is not None and len(pieces) > max_tokens:
            pieces, finish = pieces[:max_tokens], "length"
        return pieces, finish

    @staticmethod
    def _invalid(kind: str, message: str, param: str | None, anthropic: bool) -> tuple[int, list, bytes]:
        if anthropic:
            doc = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
        else:
            doc = {"error": {"message": message, "type": "invalid_request_error", "param": param,
                             "code": kind}}
        return 400, [], json.dumps(doc).encode()

    def _validate(self, body: Any, anthropic: bool):
        if not isinstance(body, dict):
            return self._invalid("invalid_json", "request body is not a JSON object", None, anthropic)
        if not isinstance(body.get("model"), str) or not body.get("model"):
            return self._invalid("missing_model", "you must provide a model parameter", "model", anthropic)
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs:
            return self._invalid("invalid_messages", "'messages' must be a non-empty array", "messages", anthropic)
        mt = body.get("max_tokens", body.get("max_completion_tokens"))
        if anthropic and mt is None:
            return self._invalid("missing", "max_tokens: Field required", "max_tokens", anthropic)
        if mt is not None and (not isinstance(mt, int) or isinstance(mt, bool) or mt < 1):
            return self._invalid("integer_below_min_value",
                                 f"Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, "
                                 f"but got {mt!r} instead.", "max_tokens", anthropic)
        t = body.get("temperature")
        if t is not None and (not isinstance(t, (int, float)) or isinstance(t, bool) or not 0 <= t <= 2):
            return self._invalid("decimal_above_max_value", f"Invalid 'temperature': {t!r}", "temperature", anthropic)
        return None

    def _openai(self, req: RecordedRequest, fault: Fault | None):
        body = req.json
        bad = self._validate(body, anthropic=False)
        if bad:
            return bad
        kind = fault.kind if fault else None
        model = self.model or body["model"]
        rid = f"chatcmpl-{next(self._ids):08x}fake"
        created = int(time.time())
        if kind in ("huge", "gzip_bomb"):
            return 200, [], ("huge", fault)
        text = self._answer(body, req)
        if kind == "bad_utf8":
            text = text + BAD_UTF8_MARKER
        pieces, finish = self._pieces(text, body.get("max_tokens") or body.get("max_completion_tokens"))
        prompt_tokens = int(self.usage_fn(body.get("messages") or []))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(pieces),
                 "total_tokens": prompt_tokens + len(pieces)}
        fp = self.system_fingerprint
        if body.get("stream") and not self.ignore_stream:
            events: list[bytes] = []

            def chunk(delta: dict | None, fin: str | None, choices: bool = True) -> dict:
                d: dict[str, Any] = {"id": rid, "object": "chat.completion.chunk", "created": created,
                                     "model": model}
                if fp is not None:
                    d["system_fingerprint"] = fp
                d.update(self.extra_fields)
                d["choices"] = ([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": fin}]
                                if choices else [])
                return d

            docs = [chunk({"role": "assistant", "content": ""}, None)]
            for p in pieces:
                docs.append(chunk({"content": None if kind == "null_content" else p}, None))
            docs.append(chunk({}, finish))
            so = body.get("stream_options") or {}
            if self.report_usage and isinstance(so, dict) and so.get("include_usage"):
                u = chunk(None, None, choices=False)
                u["usage"] = usage
                docs.append(u)
            for d in docs:
                if kind == "empty_choices":
                    d["choices"] = []
                if kind == "wrong_shape":
                    d = {"unexpected": True, "data": [1, 2, 3]}
                raw = _jdump(d)
                if kind == "malformed":
                    raw = b'{"id": "' + rid.encode() + b'", "choices": [ {oops'
                events.append(b"data: " + raw + b"\n\n")
            if kind != "no_done":
                events.append(b"data: [DONE]\n\n")
            return 200, [("Content-Type", "text/event-stream; charset=utf-8"),
                         ("Cache-Control", "no-cache")], events
        msg: dict[str, Any] = {"role": "assistant", "content": None if kind == "null_content" else "".join(pieces)}
        doc: dict[str, Any] = {"id": rid, "object": "chat.completion", "created": created, "model": model,
                               "choices": [{"index": 0, "message": msg, "logprobs": None,
                                            "finish_reason": finish}]}
        if self.report_usage:
            doc["usage"] = usage
        if fp is not None:
            doc["system_fingerprint"] = fp
        doc.update(self.extra_fields)
        if kind == "empty_choices":
            doc["choices"] = []
        if kind == "wrong_shape":
            doc = {"unexpected": True, "result": "".join(pieces)}
        raw = _jdump(doc)
        if kind == "malformed":
            raw = raw[: max(1, len(raw) // 2)] + b"<html>oops"
        return 200, [], raw

    def _anthropic(self, req: RecordedRequest, fault: Fault | None):
        body = req.json
        bad = self._validate(body, anthropic=True)
        if bad:
            return bad
        if "anthropic-version" not in req.headers:
            return self._invalid("missing_version", "anthropic-version header is required", None, True)
        kind = fault.kind if fault else None
        model = self.model or body["model"]
        rid = f"msg_{next(self._ids):08x}fake"
        if kind in ("huge", "gzip_bomb"):
            return 200, [], ("huge_anthropic", fault)
        text = self._answer(body, req)
        if kind == "bad_utf8":
            text = text + BAD_UTF8_MARKER
        pieces, finish = self._pieces(text, body.get("max_tokens"))
        stop_reason = "end_turn" if finish == "stop" else "max_tokens"
        msgs = list(body.get("messages") or [])
        if isinstance(body.get("system"), str):
            msgs = [{"role": "system", "content": body["system"]}] + msgs
        input_tokens = int(self.usage_fn(msgs))
        if body.get("stream") and not self.ignore_stream:
            docs: list[tuple[str, dict]] = [
                ("message_start", {"type": "message_start", "message": {
                    "id": rid, "type": "message", "role": "assistant", "model": model, "content": [],
                    "stop_reason": None, "stop_sequence": None,
                    "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}),
                ("content_block_start", {"type": "content_block_start", "index": 0,
                                         "content_block": {"type": "text", "text": ""}}),
                ("ping", {"type": "ping"}),
            ]
            for p in pieces:
                docs.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                     "delta": {"type": "text_delta",
                                                               "text": None if kind == "null_content" else p}}))
            docs.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
            docs.append(("message_delta", {"type": "message_delta",
                                           "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                           "usage": {"output_tokens": len(pieces)}}))
            if kind != "no_done":
                docs.append(("message_stop", {"type": "message_stop"}))
            events = []
            for name, d in docs:
                raw = _jdump(d) if kind != "wrong_shape" else b'{"unexpected": true}'
                if kind == "malformed":
                    raw = b"{oops"
                events.append(b"event: " + name.encode() + b"\ndata: " + raw + b"\n\n")
            return 200, [("Content-Type", "text/event-stream; charset=utf-8")], events
        content = [] if kind == "empty_choices" else [
            {"type": "text", "text": None if kind == "null_content" else "".join(pieces)}]
        doc = {"id": rid, "type": "message", "role": "assistant", "model": model, "content": content,
               "stop_reason": stop_reason, "stop_sequence": None,
               "usage": {"input_tokens": input_tokens, "output_tokens": len(pieces)}}
        if kind == "wrong_shape":
            doc = {"unexpected": True}
        raw = _jdump(doc)
        if kind == "malformed":
            raw = raw[: max(1, len(raw) // 2)] + b"<html>oops"
        return 200, [], raw

    @staticmethod
    def _gemini_invalid(message: str) -> tuple[int, list, bytes]:
        return 400, [], json.dumps({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}).encode()

    def _gemini(self, req: RecordedRequest, fault: Fault | None, model: str, stream: bool):
        body = req.json
        if not isinstance(body, dict):
            return self._gemini_invalid("Invalid JSON payload received.")
        unknown = [k for k in body if k not in GEMINI_FIELDS]
        if unknown:
            return self._gemini_invalid(f'Invalid JSON payload received. Unknown name "{unknown[0]}": '
                                        "Cannot find field.")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return self._gemini_invalid("* GenerateContentRequest.contents: contents is not specified")
        cfg = body.get("generationConfig") or {}
        mt = cfg.get("maxOutputTokens") if isinstance(cfg, dict) else None
        if mt is not None and (not isinstance(mt, int) or isinstance(mt, bool) or mt < 1):
            return self._gemini_invalid(f"Invalid value at 'generation_config.max_output_tokens' ({mt!r})")
        t = cfg.get("temperature") if isinstance(cfg, dict) else None
        if t is not None and (not isinstance(t, (int, float)) or isinstance(t, bool) or not 0 <= t <= 2):
            return self._gemini_invalid(f"Invalid value at 'generation_config.temperature' ({t!r})")

        def text_of(parts: Any) -> str:
            return "".join(str(x.get("text", "")) for x in parts if isinstance(x, dict)) if isinstance(parts, list) else ""
        messages = []
        si = body.get("systemInstruction")
        if isinstance(si, dict):
            messages.append({"role": "system", "content": text_of(si.get("parts"))})
        for c in contents:
            if isinstance(c, dict):
                messages.append({"role": "assistant" if c.get("role") == "model" else "user",
                                 "content": text_of(c.get("parts"))})
        view = {"model": model, "messages": messages, "max_tokens": mt, "temperature": t, "stream": stream}
        kind = fault.kind if fault else None
        served = self.model or model
        rid = f"{next(self._ids):08x}fakegemini"
        if kind in ("huge", "gzip_bomb"):
            return 200, [], ("huge", fault)
        text = self._answer(view, req)
        if kind == "bad_utf8":
            text = text + BAD_UTF8_MARKER
        pieces, finish = self._pieces(text, mt)
        reason = "STOP" if finish == "stop" else "MAX_TOKENS"
        prompt = int(self.usage_fn(messages))
        usage = {"promptTokenCount": prompt, "candidatesTokenCount": len(pieces),
                 "totalTokenCount": prompt + len(pieces)}

        def doc(parts: list[str] | None, fin: str | None, with_usage: bool) -> dict[str, Any]:
            cand: dict[str, Any] = {"content": {"role": "model", "parts": [
                {"text": None if kind == "null_content" else p} for p in (parts or [])]}, "index": 0}
            if fin is not None:
                cand["finishReason"] = fin
            d: dict[str, Any] = {"candidates": [] if kind == "empty_choices" else [cand]}
            if with_usage and self.report_usage:
                d["usageMetadata"] = usage
            d["modelVersion"] = served
            d["responseId"] = rid
            return {"unexpected": True} if kind == "wrong_shape" else d

        if stream and not self.ignore_stream:
            docs = [doc([p], None, False) for p in pieces[:-1]]
            docs.append(doc(pieces[-1:], None if kind == "no_done" else reason, True))
            events = []
            for d in docs:
                raw = b"{oops" if kind == "malformed" else _jdump(d)
                events.append(b"data: " + raw + b"\r\n\r\n")
            return 200, [("Content-Type", "text/event-stream")], events
        raw = _jdump(doc(["".join(pieces)], reason, True))
        if kind == "malformed":
            raw = raw[: max(1, len(raw) // 2)] + b"<html>oops"
        return 200, [], raw

    # ------------------------------------------------------------ delivery
    async def _deliver(self, writer: asyncio.StreamWriter, status: int, headers: list[tuple[str, str]],
                       payload: Any, fault: Fault | None, keep: bool) -> bool:
        kind = fault.kind if fault else None
        if isinstance(payload, tuple):           # huge / gzip bomb, generated lazily
            _tag, f = payload
            anthropic = _tag == "huge_anthropic"
            if f.kind == "gzip_bomb":
                comp = f.body if (f.body is not None and not anthropic) else _gzip_of(_huge_body(f.nbytes, anthropic))
                writer.write(self._head(200, headers + [("Content-Encoding", "gzip"),
                                                        ("Content-Length", str(len(comp)))], keep))
                await _write_pieces(writer, [comp])
            else:
                total = sum(len(b) for b in _huge_body(f.nbytes, anthropic))
                writer.write(self._head(200, headers + [("Content-Length", str(total))], keep))
                for piece in _huge_body(f.nbytes, anthropic):
                    writer.write(piece)
                    await writer.drain()
            return keep
        fix = (lambda b: b.replace(BAD_UTF8_MARKER.encode(), BAD_UTF8_BYTES)) if kind == "bad_utf8" else (lambda b: b)
        if isinstance(payload, list):            # a stream: chunked transfer
            events = [fix(e) for e in payload]
            writer.write(self._head(status, headers + [("Transfer-Encoding", "chunked")], keep))
            await writer.drain()
            if kind == "split":
                data = b"".join(events)
                pieces = list(_cut(data, fault.sizes))  # type: ignore[union-attr]
            elif kind in ("trickle", "reset"):
                pieces = [b"".join(events)]
            else:
                pieces = events
            if kind == "stall":
                whole = b"".join(events)
                writer.write(f"{len(whole):x}\r\n".encode() + whole[: fault.after_bytes])  # type: ignore[union-attr]
                await writer.drain()
                assert self._stopping is not None
                await self._stopping.wait()
                return False
            if kind == "reset":
                data = pieces[0][: fault.after_bytes]  # type: ignore[union-attr]
                writer.write(f"{len(pieces[0]):x}\r\n".encode() + data)
                await writer.drain()
                writer.transport.abort()
                return False
            for i, p in enumerate(pieces):
                if kind == "trickle":
                    writer.write(f"{len(p):x}\r\n".encode())
                    for j in range(len(p)):
                        writer.write(p[j:j + 1])
                        await writer.drain()
                        await asyncio.sleep(fault.interval)  # type: ignore[union-attr]
                    writer.write(b"\r\n")
                else:
                    writer.write(f"{len(p):x}\r\n".encode() + p + b"\r\n")
                await writer.drain()
                if kind == "split":
                    await asyncio.sleep(0)
                elif self.chunk_delay > 0 and i + 1 < len(pieces):
                    await asyncio.sleep(self.chunk_delay)
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return keep
        body = fix(payload)
        if kind == "stall":
            writer.write(self._head(status, headers + [("Content-Length", str(len(body)))], keep))
            writer.write(body[: fault.after_bytes])  # type: ignore[union-attr]
            await writer.drain()
            assert self._stopping is not None
            await self._stopping.wait()
            return False
        if kind == "reset":
            writer.write(self._head(status, headers + [("Content-Length", str(len(body)))], keep))
            writer.write(body[: fault.after_bytes])  # type: ignore[union-attr]
            await writer.drain()
            writer.transport.abort()
            return False
        if kind == "trickle":
            writer.write(self._head(status, headers + [("Content-Length", str(len(body)))], keep))
            await writer.drain()
            for j in range(len(body)):
                writer.write(body[j:j + 1])
                await writer.drain()
                await asyncio.sleep(fault.interval)  # type: ignore[union-attr]
            return keep
        if kind == "split":
            writer.write(self._head(status, headers + [("Content-Length", str(len(body)))], keep))
            for p in _cut(body, fault.sizes):  # type: ignore[union-attr]
                writer.write(p)
                await writer.drain()
                await asyncio.sleep(0)
            return keep
        await self._send(writer, status, headers, body, keep=keep)
        return keep


# --------------------------------------------------------------------------- helpers

def _arity(fn: Callable[..., Any]) -> int:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 1
    n = 0
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL,):
            return 2
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n


def _jdump(d: Any) -> bytes:
    return json.dumps(d, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _cut(data: bytes, sizes: tuple[int, ...]) -> Iterator[bytes]:
    i = 0
    for s in itertools.cycle(sizes):
        if i >= len(data):
            return
        yield data[i:i + s]
        i += s


def _huge_body(nbytes: int, anthropic: bool) -> Iterator[bytes]:
    """A JSON reply about ``nbytes`` long, produced in 1 MiB pieces."""
    if anthropic:
        head = b'{"id":"msg_huge","type":"message","role":"assistant","model":"fake","content":[{"type":"text","text":"'
        tail = b'"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}'
    else:
        head = (b'{"id":"chatcmpl-huge","object":"chat.completion","created":0,"model":"fake",'
                b'"choices":[{"index":0,"message":{"role":"assistant","content":"')
        tail = b'"},"finish_reason":"stop"}]}'
    yield head
    left = max(0, nbytes - len(head) - len(tail))
    block = b"a" * (1 << 20)
    while left > 0:
        n = min(left, len(block))
        yield block[:n]
        left -= n
    yield tail


def _gzip_of(parts: Iterable[bytes]) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [comp.compress(p) for p in parts]
    out.append(comp.flush())
    return b"".join(out)


async def _write_pieces(writer: asyncio.StreamWriter, pieces: Iterable[bytes]) -> None:
    for p in pieces:
        writer.write(p)
        await writer.drain()




def main(argv: list[str] | None = None) -> None:
    """Run a fake server in the foreground (for benchmarks in a separate process)."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m provenance.testing.fakeserver")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--chunk-delay", type=float, default=0.0)
    ap.add_argument("--model", default=None)
    a = ap.parse_args(argv)
    with FakeLLMServer(port=a.port, latency=a.latency, chunk_delay=a.chunk_delay, model=a.model) as srv:
        sys.stdout.write(f"READY {srv.base_url}\n")
        sys.stdout.flush()
        try:
            sys.stdin.read()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
