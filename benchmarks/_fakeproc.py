"""A fake LLM server in its own process, for benchmarks (not a test, not shipped).

    python benchmarks/_fakeproc.py --latency 1 [--ports 200] [--answer TEXT] [--usage chars4]

Prints ``READY <base_url> [<base_url> ...]`` (one OpenAI-style base URL per
listening port) and serves until stdin closes or it is killed.

Beyond ``python -m provenance.testing.fakeserver`` it can

* listen on many ports from one event loop (``--ports N``), so a scan sees N
  distinct ``host:port`` endpoints (per-host limits apply per entrant) without N
  processes competing for the 2 cores; this relies on the private ``_on_conn``
  handler of ``FakeLLMServer`` (benchmark-only coupling);
* answer every probe with a fixed text (``--answer``), e.g. one that claims a creator;
* count tokens as characters / 4 (``--usage chars4``): prompt tokens from the
  messages' text, completion tokens by streaming the answer in 4-character pieces
  (the server reports completion_tokens = number of pieces);
* misbehave per entrant (``--faults-by-path``): the first path segment of a base
  URL, up to its first ``-``, names a fault kind (see ``path_fault``), e.g.
  ``http://127.0.0.1:PORT/hang-e012/v1`` accepts and never answers.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from provenance.testing.fakeserver import FakeLLMServer, Fault  # noqa: E402

FAULT_KINDS = ("ok", "hang", "trickle", "stall", "ratelimited", "flaky")


def path_fault():
    """fault_fn by the base URL's first path segment: ``<kind>-<name>``.

    hang: accept, never answer. trickle: headers, then one byte every 0.5 s.
    stall: headers and 30 bytes of the body, then nothing. ratelimited: every
    third request gets 429 with Retry-After: 1. flaky: every fourth gets 503.
    anything else: normal answers."""
    import itertools
    import threading
    counters: dict[str, itertools.count] = {}
    lock = threading.Lock()

    def fn(req):
        seg = req.path.strip("/").split("/")[0]
        kind = seg.split("-")[0]
        if kind == "hang":
            return Fault.hang()
        if kind == "trickle":
            return Fault.trickle(0.5)
        if kind == "stall":
            return Fault.stall(after_bytes=30)
        if kind in ("ratelimited", "flaky") and req.method == "POST":
            with lock:
                n = next(counters.setdefault(seg, itertools.count()))
            if kind == "ratelimited" and n % 3 == 2:
                return Fault.status(429, retry_after="1")
            if kind == "flaky" and n % 4 == 3:
                return Fault.status(503)
        return None
    return fn


def chars4_usage(messages: list) -> int:
    n = 0
    for m in messages or []:
        c = m.get("content") if isinstance(m, dict) else None
        if isinstance(c, list):
            c = " ".join(str(p.get("text", "")) for p in c if isinstance(p, dict))
        n += math.ceil(len(str(c or "")) / 4) + 3      # + a few per message, like real chat templates
    return n + 3


def chars4_chunks(text: str) -> list[str]:
    return [text[i:i + 4] for i in range(0, len(text), 4)]


class MultiPortServer(FakeLLMServer):
    """FakeLLMServer that also accepts on ``extra`` more ephemeral ports."""

    def __init__(self, *, extra: int = 0, **kw) -> None:
        super().__init__(**kw)
        self.extra = extra
        self.ports: list[int] = []
        self._extra_servers: list = []

    async def _serve(self) -> None:
        await super()._serve()
        self.ports = [self.port]
        for _ in range(self.extra):
            s = await asyncio.start_server(self._on_conn, self.host, 0, backlog=2048, limit=1 << 20)
            self._extra_servers.append(s)
            self.ports.append(s.sockets[0].getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=1.0)
    ap.add_argument("--ports", type=int, default=1)
    ap.add_argument("--answer", default=None)
    ap.add_argument("--usage", choices=("default", "chars4"), default="default")
    ap.add_argument("--faults-by-path", action="store_true")
    a = ap.parse_args()
    kw: dict = {"latency": a.latency}
    if a.faults_by_path:
        kw["fault_fn"] = path_fault()
    if a.answer is not None:
        text = a.answer
        kw["answer_fn"] = lambda body: text
    if a.usage == "chars4":
        kw["usage_fn"] = chars4_usage
        kw["chunk_fn"] = chars4_chunks
    srv = MultiPortServer(extra=max(0, a.ports - 1), **kw)
    srv.start()
    try:
        urls = [f"http://{srv.host}:{p}/v1" for p in srv.ports]
        sys.stdout.write("READY " + " ".join(urls) + "\n")
        sys.stdout.flush()
        try:
            sys.stdin.read()
        except KeyboardInterrupt:
            pass
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
