"""What a server says it can take: the self-descriptions OpenAI-compatible servers publish.

``await read_capacity(endpoint)`` -> ``Capacity`` or None, read once before a run's first
probe (``probing/one_target.run_probes`` hands it to the pacer: ``Pacer.server_described``).
Three cheap ``GET`` requests go out at once to the server's root (the base URL without its
trailing ``/v1``), with the run's headers and key, no retries and a short timeout:

=========================  ==========================  ===================================
server                     request                     what is read
=========================  ==========================  ===================================
llama.cpp ``llama-server``  ``GET /props``              ``total_slots``: requests decoded at
                                                        once (the rest wait in its queue)
Hugging Face TGI           ``GET /info``               ``max_concurrent_requests`` (and
                                                        ``model_id``)
Ollama                     ``GET /api/version``        only that it is Ollama: it does not
                                                        publish ``OLLAMA_NUM_PARALLEL``
=========================  ==========================  ===================================

Anything else (a 404, a timeout, a body that is not the expected JSON, a number out of
range) says nothing, and the pacer starts as for a server that says nothing. The replies are
read as untrusted input: only an integer in 1..4096 and a short version string are kept, and
nothing of them enters the transcript or the report beyond ``run.pacing.server``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

# A server that is known but does not say how many it serves at once (Ollama) starts here:
# Ollama's own default parallel limit where memory allows (1 where it does not).
LOCAL_START = 4
MAX_SLOTS = 4096


@dataclass(frozen=True)
class Capacity:
    server: str                 # "llama.cpp", "TGI", "Ollama"
    source: str                 # what said it, e.g. "GET /props total_slots"
    slots: int | None = None    # requests it serves at once (None: not published)
    start: int | None = None    # where to start when it publishes no slot count

    def to_dict(self) -> dict[str, Any]:
        return {"server": self.server, "source": self.source, "slots": self.slots}


def server_root(base_url: str) -> str:
    """``http://h:p/v1`` -> ``http://h:p``; ``http://h:p/llama/v1`` -> ``http://h:p/llama``."""
    base = base_url.rstrip("/")
    return base[:-3] if base.endswith("/v1") else base


def _doc(res: Any) -> dict[str, Any] | None:
    if res is None or res.error is not None or res.status != 200 or not res.body or len(res.body) > 2_000_000:
        return None
    try:
        doc = json.loads(res.body.decode("utf-8", errors="replace"))
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _count(v: Any) -> int | None:
    if isinstance(v, bool) or not isinstance(v, int):
        return None
    return v if 1 <= v <= MAX_SLOTS else None


def from_replies(props: Any, info: Any, version: Any) -> Capacity | None:
    """The capacity the three replies state (``HTTPResult`` or None each), llama.cpp first."""
    doc = _doc(props)
    if doc is not None:
        n = _count(doc.get("total_slots"))
        if n is not None:
            return Capacity("llama.cpp", "GET /props total_slots", slots=n)
    doc = _doc(info)
    if doc is not None:
        n = _count(doc.get("max_concurrent_requests"))
        if n is not None and ("model_id" in doc or "router" in doc):
            return Capacity("TGI", "GET /info max_concurrent_requests", slots=n)
    doc = _doc(version)
    if doc is not None and isinstance(doc.get("version"), str) and len(doc) == 1 and len(doc["version"]) <= 40:
        return Capacity("Ollama", "GET /api/version (Ollama does not publish its parallel limit)",
                        start=LOCAL_START)
    return None


def ask_timeout(settings: Any) -> float:
    """How long the self-description may take: a quarter of the read timeout, 0.2 to 3 s."""
    return min(3.0, max(0.2, float(settings.read_timeout) / 4.0))


async def read_capacity(endpoint: Any) -> Capacity | None:
    """Ask the server what it can take (see the module docstring); None when it says nothing.
    Never raises for endpoint faults."""
    from .http import HttpExecutor

    settings = endpoint.settings
    t = ask_timeout(settings)
    check = settings.with_(retries=0, connect_timeout=min(float(settings.connect_timeout), t),
                           read_timeout=t, request_timeout=t, concurrency=3)
    root = server_root(endpoint.target.base_url)
    headers, secret = endpoint.public_headers(), endpoint.auth_headers()
    try:
        async with HttpExecutor(check) as ex:
            replies = await asyncio.gather(*(ex.request("GET", root + path, headers=headers, secret_headers=secret)
                                             for path in ("/props", "/info", "/api/version")))
    except Exception:  # noqa: BLE001 - a self-description is optional: any failure says nothing
        return None
    return from_replies(*replies)
