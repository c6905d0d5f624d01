"""The careful HTTP request executor every endpoint adapter uses.

One ``HttpExecutor`` per target (it owns one ``httpx.AsyncClient``)::

    async with HttpExecutor(settings) as ex:
        res = await ex.request("POST", url, json_body=body, headers=public,
                               secret_headers={"Authorization": "Bearer ..."},
                               stream=True, deadline_at=loop_time + 30)

What it guarantees:

* explicit ``httpx.Timeout`` (connect / read / write / pool) from ``RunSettings``
  and a bound on the request's TOTAL time, every attempt and backoff included
  (``settings.request_timeout``), so a server that trickles one byte a second,
  or accepts and never answers, ends the request in bounded time;
* a timeout says which kind it was: nothing received, a reply that stalled
  after N bytes, or one still incomplete at the total bound;
* retries with jittered exponential backoff on 408/429/5xx and transport
  errors, honouring ``Retry-After`` (seconds or HTTP-date, capped by
  ``settings.backoff_max``), never past ``deadline_at`` (event-loop time) nor
  the total bound;
* with a ``pacer`` (``provenance.probing.pacing.Pacer``, set by ``run_probes``) every
  attempt is reported to it; timeouts are not retried once it says so, nor once the
  endpoint has answered in this run (the runner sends the probe again under the pacer,
  which may stretch the timeouts of a slow endpoint: ``pacer.timeout_scale`` multiplies
  the read and total timeouts of every later request);
* the body is read in chunks and capped at ``settings.max_body_bytes``
  (``truncated``); compressed bodies are inflated by our own bounded decoder, so
  a gzip bomb stops at the cap;
* redirects: at most 3, only to the same scheme, host and port;
* secrets (``secret_headers`` values) never appear in ``HTTPResult`` nor in any
  error string; URLs in messages are redacted (no query, no userinfo).

Never raises for endpoint faults: failures come back as ``HTTPResult.error``.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import random
import time
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from ..settings import RunSettings, redact_url
from ..transcript import ErrorKind
from .sse import SSEEvent, SSEParser

RETRY_STATUS = frozenset({408, 429})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 3
ACCEPT_ENCODING = "gzip, deflate"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class HTTPResult:
    url: str                                    # redacted final URL
    status: int | None = None                   # HTTP status of the last reply, None if none
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""                           # decoded body (non-SSE), capped
    events: list[SSEEvent] | None = None        # SSE events when the reply was an event stream
    truncated: bool = False                     # body hit max_body_bytes
    attempts: int = 0
    latency_ms: float | None = None             # last attempt: send to end of body
    error: str | None = None                    # why there is no usable reply
    error_kind: ErrorKind | None = None         # deadline|timeout|connect|transport|redirect|decode
    received: int = 0                           # bytes of the last reply's body received
    got_headers: bool = False                   # the last attempt got a status line
    ttfb_s: float | None = None                 # the last attempt: send to status line (queueing shows here)

    @property
    def is_sse(self) -> bool:
        return self.events is not None

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return None


class _Deadline(Exception):
    """The per-target deadline ran out."""


class _Fail(Exception):
    def __init__(self, kind: ErrorKind, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable


# --------------------------------------------------------------------------- helpers

def scrub(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """Replace every secret value in ``text`` with ``***``."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return text


def scrub_obj(obj: Any, secrets: list[str] | tuple[str, ...]) -> Any:
    """``scrub`` applied to every string inside a JSON-like object."""
    if not secrets:
        return obj
    if isinstance(obj, str):
        return scrub(obj, secrets)
    if isinstance(obj, list):
        return [scrub_obj(x, secrets) for x in obj]
    if isinstance(obj, tuple):
        return tuple(scrub_obj(x, secrets) for x in obj)
    if isinstance(obj, dict):
        return {scrub_obj(k, secrets): scrub_obj(v, secrets) for k, v in obj.items()}
    return obj


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    v = value.strip()
    try:
        secs = float(v)
    except ValueError:
        secs = None
    if secs is not None:
        if secs != secs or secs < 0:          # NaN or negative
            return None
        return secs
    try:
        dt = email.utils.parsedate_to_datetime(v)
    except (TypeError, ValueError, IndexError):
        return None
    if dt is None:
        return None
    if dt.tzinfo is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, dt.timestamp() - now)


def redirect_allowed(from_url: str, to_url: str) -> bool:
    """Only the same scheme, host and port (so never https -> http, never another host)."""
    a, b = urlsplit(from_url), urlsplit(to_url)
    try:
        pa = a.port or (443 if a.scheme == "https" else 80)
        pb = b.port or (443 if b.scheme == "https" else 80)
    except ValueError:
        return False
    return (a.scheme.lower() == b.scheme.lower() and b.scheme.lower() in ("http", "https")
            and (a.hostname or "").lower() == (b.hostname or "").lower() and pa == pb
            and not b.username and not b.password)


def _short(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return f"{name}: {msg}" if msg else name


class _BoundedDecoder:
    """Inflates gzip/deflate without ever producing more than ``limit`` bytes."""

    def __init__(self, encoding: str) -> None:
        enc = [e.strip().lower() for e in encoding.split(",") if e.strip() and e.strip().lower() != "identity"]
        if len(enc) > 1:
            raise _Fail(ErrorKind.DECODE, f"unsupported content-encoding {encoding[:60]!r}", False)
        self.kind = enc[0] if enc else None
        self._first = True
        if self.kind in ("gzip", "x-gzip"):
            self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.kind == "deflate":
            self._d = zlib.decompressobj()
        elif self.kind is None:
            self._d = None
        else:
            raise _Fail(ErrorKind.DECODE, f"unsupported content-encoding {self.kind[:40]!r}", False)

    def feed(self, raw: bytes, room: int) -> tuple[bytes, bool]:
        """-> (output of at most ``room`` bytes, more_output_was_pending)."""
        if self._d is None:
            return raw[:room], len(raw) > room
        try:
            out = self._d.decompress(raw, room + 1)
        except zlib.error as e:
            if self.kind == "deflate" and self._first:
                self._d = zlib.decompressobj(-zlib.MAX_WBITS)     # raw deflate
                self._first = False
                return self.feed(raw, room)
            raise _Fail(ErrorKind.DECODE, f"corrupt {self.kind} body ({e})", False) from None
        if self.kind == "deflate":
            self._first = False
        over = len(out) > room or bool(self._d.unconsumed_tail)
        return out[:room], over


@functools.lru_cache(maxsize=2)
def default_ssl_context(trust_env: bool = True) -> Any:
    """One verifying SSL context per process: building one costs ~50-100 ms (CA bundle),
    which would dominate a scan of hundreds of targets if every client built its own."""
    return httpx.create_ssl_context(trust_env=trust_env)


# --------------------------------------------------------------------------- executor

class HttpExecutor:
    def __init__(self, settings: RunSettings, *, client: Any = None,
                 rng: random.Random | None = None, trust_env: bool | None = None) -> None:
        self.settings = settings
        self._client = client
        self._owns = client is None
        self._rng = rng or random.Random()
        self._trust_env = trust_env
        self.pacer: Any = None                  # provenance.probing.pacing.Pacer, set by run_probes

    # ------------------------------------------------------------ lifecycle
    def timeout(self, scale: float = 1.0) -> httpx.Timeout:
        s = self.settings
        return httpx.Timeout(connect=s.connect_timeout, read=s.read_timeout * scale,
                             write=s.read_timeout * scale, pool=max(s.connect_timeout, s.request_timeout * scale))

    def _ensure_client(self, url: str) -> Any:
        if self._client is None:
            trust = self._trust_env
            if trust is None:
                trust = (urlsplit(url).hostname or "") not in _LOOPBACK
            n = max(1, self.settings.concurrency)
            self._client = httpx.AsyncClient(
                timeout=self.timeout(), follow_redirects=False, trust_env=trust,
                verify=default_ssl_context(trust),
                limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
                headers={"User-Agent": self.settings.user_agent})
            self._owns = True
        return self._client

    async def aclose(self) -> None:
        if self._client is not None and self._owns:
            await self._client.aclose()
        if self._owns:
            self._client = None

    async def __aenter__(self) -> "HttpExecutor":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------ public
    async def request(self, method: str, url: str, *, json_body: Any = None,
                      headers: dict[str, str] | None = None,
                      secret_headers: dict[str, str] | None = None,
                      stream: bool = False, deadline_at: float | None = None) -> HTTPResult:
        secrets = [v for v in (secret_headers or {}).values() if v]
        try:
            return await self._request(method, url, json_body, headers or {}, secret_headers or {},
                                       stream, deadline_at, secrets)
        except Exception as e:  # noqa: BLE001 - the contract: never raise for endpoint faults
            return HTTPResult(url=redact_url(url), error=scrub(f"unexpected {_short(e)}", secrets)[:500],
                              error_kind=ErrorKind.TRANSPORT)

    # ------------------------------------------------------------ internals
    def _backoff(self, attempt: int) -> float:
        s = self.settings
        base = min(s.backoff_max, s.backoff_base * (2 ** max(0, attempt - 1)))
        return base * (0.5 + 0.5 * self._rng.random())

    async def _request(self, method: str, url: str, json_body: Any, headers: dict[str, str],
                       secret_headers: dict[str, str], stream: bool, deadline_at: float | None,
                       secrets: list[str]) -> HTTPResult:
        loop = asyncio.get_running_loop()
        s = self.settings
        client = self._ensure_client(url)
        content = None
        send_headers = {"Accept-Encoding": ACCEPT_ENCODING, **headers, **secret_headers}
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            send_headers.setdefault("Content-Type", "application/json")
        if stream:
            send_headers.setdefault("Accept", "text/event-stream")
        else:
            send_headers.setdefault("Accept", "application/json")
        attempts = 0
        last: HTTPResult = HTTPResult(url=redact_url(url))
        max_attempts = 1 + max(0, s.retries)
        pacer = self.pacer
        scale = 1.0
        if pacer is not None:
            budget = json_body.get("max_tokens") if isinstance(json_body, dict) and not stream else None
            scale = max(1.0, float(pacer.timeout_scale_for(budget)))
        total_at = loop.time() + max(0.0, s.request_timeout * scale)
        while attempts < max_attempts:
            if deadline_at is not None and loop.time() >= deadline_at:
                last.error, last.error_kind = "deadline: no time left for the request", ErrorKind.DEADLINE
                break
            if loop.time() >= total_at:
                break
            attempts += 1
            sent_at = loop.time()
            res = await self._attempt(client, method, url, content, send_headers, stream,
                                      deadline_at, total_at, secrets, scale)
            res.attempts = attempts
            last = res
            retry = False
            wait = 0.0
            ra = None
            if res.status is not None and res.error is None:
                ra = parse_retry_after(res.header("retry-after"))
            if pacer is not None:
                pacer.on_attempt(sent_at=sent_at, now=loop.time(), status=res.status if res.error is None else None,
                                 error_kind=res.error_kind, retry_after=ra, wait_s=res.ttfb_s)
            if res.error is not None:
                retry = res.error_kind in (ErrorKind.TIMEOUT, ErrorKind.CONNECT, ErrorKind.TRANSPORT)
                if res.error_kind == ErrorKind.TIMEOUT and pacer is not None and (
                        not pacer.retry_timeouts or pacer.last_ok_at > sent_at or pacer.answered > 0):
                    # streak reached; lost to overload (others sent later were answered); or an
                    # endpoint that answers, slowly: run_probes sends it again under the pacer
                    # (a lowered limit, perhaps longer timeouts), not at once
                    retry = False
                wait = self._backoff(attempts)
            elif res.status is not None and (res.status in RETRY_STATUS or 500 <= res.status <= 599):
                retry = True
                wait = min(ra, s.backoff_max) if ra is not None else self._backoff(attempts)
            if pacer is not None and pacer.dead:
                retry = False
            if not retry or attempts >= max_attempts:
                break
            if deadline_at is not None and loop.time() + wait >= deadline_at:
                break       # no time left to wait: report the last reply or error as it is
            if loop.time() + wait >= total_at:
                break
            await asyncio.sleep(wait)
        last.attempts = attempts
        if last.error:
            last.error = scrub(last.error, secrets)[:500]
        return last

    async def _attempt(self, client: Any, method: str, url: str, content: bytes | None,
                       headers: dict[str, str], stream: bool, deadline_at: float | None,
                       total_at: float | None, secrets: list[str], scale: float = 1.0) -> HTTPResult:
        loop = asyncio.get_running_loop()
        s = self.settings
        now = loop.time()
        total_s, read_s = s.request_timeout * scale, s.read_timeout * scale
        budget = total_s if total_at is None else max(0.0, total_at - now)
        hit_deadline = False
        if deadline_at is not None:
            left = deadline_at - now
            if left <= budget:
                budget, hit_deadline = max(0.0, left), True
        t0 = loop.time()
        res = HTTPResult(url=redact_url(url))
        try:
            async with asyncio.timeout(budget):
                await self._exchange(client, method, url, content, headers, stream, res,
                                     self.timeout(scale) if scale != 1.0 else None)
        except TimeoutError:
            if hit_deadline:
                res.error, res.error_kind = "deadline: target deadline reached during the request", ErrorKind.DEADLINE
            else:
                got = (f"{res.received} bytes received, reply still incomplete" if res.got_headers
                       else "nothing received")
                res.error = (f"timeout: no complete reply within {total_s:g} s "
                             f"(the total time bound for one request; {got})")
                res.error_kind = ErrorKind.TIMEOUT
        except _Fail as f:
            res.error, res.error_kind = f.args[0], f.kind
        except httpx.ConnectTimeout:
            res.error, res.error_kind = f"timeout: could not connect within {s.connect_timeout:g} s", ErrorKind.TIMEOUT
        except httpx.TimeoutException as e:
            if res.got_headers:
                res.error = (f"timeout: the reply stalled after {res.received} bytes "
                             f"(nothing more for {read_s:g} s, the read timeout)")
            elif isinstance(e, (httpx.ReadTimeout, httpx.WriteTimeout)):
                res.error = (f"timeout: the server accepted the request but sent nothing "
                             f"for {read_s:g} s (the read timeout)")
            else:
                res.error = f"timeout: {_short(e)}"
            res.error_kind = ErrorKind.TIMEOUT
        except httpx.ConnectError as e:
            res.error, res.error_kind = f"connection failed: {_short(e)}", ErrorKind.CONNECT
        except (httpx.TransportError, httpx.StreamError, OSError) as e:
            res.error, res.error_kind = f"transport error: {_short(e)}", ErrorKind.TRANSPORT
        res.latency_ms = round((loop.time() - t0) * 1000.0, 1)
        if res.error:
            res.error = scrub(res.error, secrets)
        return res

    async def _exchange(self, client: Any, method: str, url: str, content: bytes | None,
                        headers: dict[str, str], stream: bool, res: HTTPResult,
                        timeout: httpx.Timeout | None = None) -> None:
        cur = url
        t0 = asyncio.get_running_loop().time()
        for hop in range(MAX_REDIRECTS + 1):
            if timeout is None:
                req = client.build_request(method, cur, content=content, headers=headers)
            else:
                req = client.build_request(method, cur, content=content, headers=headers, timeout=timeout)
            resp = await client.send(req, stream=True)
            try:
                if resp.status_code in REDIRECT_STATUS and resp.headers.get("location"):
                    target = urljoin(cur, resp.headers["location"])
                    if hop >= MAX_REDIRECTS:
                        raise _Fail(ErrorKind.REDIRECT, f"too many redirects (more than {MAX_REDIRECTS})", False)
                    if not redirect_allowed(cur, target):
                        raise _Fail(ErrorKind.REDIRECT, f"redirect to {redact_url(target)} refused "
                                                f"(only same scheme and host are followed)", False)
                    if resp.status_code == 303:
                        method, content = "GET", None
                    cur = target
                    res.url = redact_url(cur)
                    continue
                res.status = resp.status_code
                res.headers = list(resp.headers.items())
                res.got_headers = True
                res.ttfb_s = asyncio.get_running_loop().time() - t0
                if self.pacer is not None:
                    self.pacer.on_headers()
                await self._read_body(resp, stream, res)
                return
            finally:
                await resp.aclose()

    async def _read_body(self, resp: Any, stream: bool, res: HTTPResult) -> None:
        cap = max(0, self.settings.max_body_bytes)
        ctype = resp.headers.get("content-type", "").lower()
        sse = stream and 200 <= resp.status_code < 300 and "json" not in ctype
        decoder = _BoundedDecoder(resp.headers.get("content-encoding", ""))
        parser = SSEParser() if sse else None
        events: list[SSEEvent] = []
        body = bytearray()
        got = 0
        async for raw in resp.aiter_raw():
            res.received += len(raw)
            room = cap - got
            out, over = decoder.feed(raw, room)
            got += len(out)
            if parser is not None:
                events.extend(parser.feed(out))
            else:
                body += out
            if over:
                res.truncated = True
                break
        if parser is not None:
            if not res.truncated:
                events.extend(parser.close())
            res.events = events
        else:
            res.body = bytes(body)
