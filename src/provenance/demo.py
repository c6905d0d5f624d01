"""`provenance demo`: the whole probe path against a loopback server replaying real answers.

The server (``replay.ReplayServer``, a real HTTP server on 127.0.0.1) answers each
probe with what Qwen2.5-Coder-0.5B-Instruct answered to the same prompt when this
project ran it on llama.cpp (``data/demo-replay.json.gz``, built by
``scripts/build_demo_data.py`` from ``data/collected/local-models.jsonl`` and the
stored end-to-end report: never reference corpus records), and reports the
prompt-token counts that server reported. A prompt it has no answer for gets a
short refusal-free fallback, so a changed probe set still runs.
"""

from __future__ import annotations

import gzip
import json
from importlib import resources
from typing import Any

from .replay import FALLBACK, Replay, ReplayServer, messages_key  # noqa: F401 - the demo's pieces

REPLAY_FILE = "data/demo-replay.json.gz"


def load_replay() -> dict[str, Any]:
    raw = resources.files("provenance").joinpath(REPLAY_FILE).read_bytes()
    return json.loads(gzip.decompress(raw).decode("utf-8"))


def replay_server(replay: Replay) -> ReplayServer:
    """A started-on-enter loopback server answering from ``replay`` (use as a context manager)."""
    return ReplayServer(replay)
