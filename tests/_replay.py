"""A real loopback server that replays a recorded report's answers (a maker's genuine answers).

``replay_server(report_path)`` serves, for each request, the answer the recorded
model gave to the same messages, and bills prompt tokens as the recorded server
did. A probe the recording lacks (the probe set changed since) gets a short
generic answer, and, for tokenizer count probes, the count the recorded
tokenizer family gives (from the shipped tokenizer table), so the replay stays
a faithful endpoint of that maker under any probe set.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from provenance.probes import load_probeset
from provenance.testing.fakeserver import FakeLLMServer, default_usage

REPORTS = Path(__file__).resolve().parents[1] / "data" / "e2e-reports"
TABLE = json.loads(resources.files("provenance").joinpath("data/tokenizers.json").read_text())


def _key(messages: Any) -> str:
    return json.dumps(messages, sort_keys=True, ensure_ascii=False)


def replay_server(report: Path | str, family: str, **kw: Any) -> FakeLLMServer:
    doc = json.loads(Path(report).read_text(encoding="utf-8"))
    answers: dict[str, str] = {}
    usage: dict[str, int] = {}
    for p in doc["probes"]:
        body = (p.get("request") or {}).get("json") or {}
        msgs = body.get("messages")
        if not msgs or p.get("status") != "ok":
            continue
        answers[_key(msgs)] = p.get("text") or ""
        pt = (p.get("usage") or {}).get("prompt_tokens")
        if isinstance(pt, int):
            usage[_key(msgs)] = pt
    fam = TABLE["families"][family]
    base_pid = TABLE["baseline"]["probe"]
    by_msgs = {_key(p.messages): p.id for p in load_probeset().probes if getattr(p, "messages", None)}
    base_msgs = next((k for k, pid in by_msgs.items() if pid == base_pid), None)
    template = usage.get(base_msgs, 30) - fam["baseline"] if base_msgs else 30 - fam["baseline"]

    def answer(body: dict[str, Any]) -> str:
        return answers.get(_key(body.get("messages")), "I'm sorry, I can't help with that request.")

    def usage_fn(messages: list[dict[str, Any]]) -> int:
        k = _key(messages)
        if k in usage:
            return usage[k]
        pid = by_msgs.get(k)
        if pid == base_pid:
            return template + fam["baseline"]
        if pid in fam["counts"]:
            return template + fam["counts"][pid]
        return default_usage(messages)

    return FakeLLMServer(answer_fn=answer, usage_fn=usage_fn, **kw)
