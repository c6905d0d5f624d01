"""`provenance demo`: the whole probe path against a loopback server replaying real answers.

The server (``testing/fakeserver.py``, a real HTTP server on 127.0.0.1) answers each
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

REPLAY_FILE = "data/demo-replay.json.gz"
FALLBACK = "I'm not sure I can help with that."


def messages_key(messages: Any) -> str:
    return json.dumps(messages, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def load_replay() -> dict[str, Any]:
    raw = resources.files("provenance").joinpath(REPLAY_FILE).read_bytes()
    return json.loads(gzip.decompress(raw).decode("utf-8"))


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

    def answer(self, body: dict[str, Any]) -> str:
        msgs = body.get("messages") or []
        text = self.by_messages.get(messages_key(msgs))
        if text is None:
            users = [m.get("content") for m in msgs if isinstance(m, dict) and m.get("role") == "user"]
            text = self.answers.get(users[-1]) if users and isinstance(users[-1], str) else None
        if text is None:
            self.misses += 1
            return FALLBACK
        self.hits += 1
        return text

    def usage(self, messages: list[dict[str, Any]]) -> int:
        n = self.tokens.get(messages_key(messages))
        if n is not None:
            return n
        from .testing.fakeserver import default_usage
        return default_usage(messages)

    def covers(self, probe: Any) -> bool:
        msgs = [dict(m) for m in probe.messages]
        if messages_key(msgs) in self.by_messages:
            return True
        users = [m["content"] for m in msgs if m.get("role") == "user"]
        return bool(users) and users[-1] in self.answers


def replay_server(replay: Replay):
    """A started-on-enter loopback server answering from ``replay`` (use as a context manager)."""
    from .testing.fakeserver import FakeLLMServer
    return FakeLLMServer(answer_fn=replay.answer, usage_fn=replay.usage, model=replay.model,
                         models=(replay.model,), system_fingerprint=None)
