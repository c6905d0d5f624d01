#!/usr/bin/env python3
"""Build the replay data `provenance demo` serves: src/provenance/data/demo-replay.json.gz.

Only answers this project collected itself from a real local model (never reference
corpus records):

* behavioural answers: ``data/collected/local-models.jsonl`` (``provenance collect``
  against Qwen2.5-Coder-0.5B-Instruct on llama.cpp), keyed by the prompt;
* the tokenizer/API probes' answers and every probe's reported ``prompt_tokens``:
  the stored end-to-end report ``data/e2e-reports/qwen2.5-coder-0.5b.json``
  (``provenance probe`` against the same server), keyed by the request's messages.

Re-run it after the probe set changes (a test checks that the demo data covers the
shipped probe set's behavioural prompts)::

    python scripts/build_demo_data.py
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = "qwen2.5-coder-0.5b"
CAP = 2000          # characters kept per answer: more than any probe's token budget reads


def messages_key(messages) -> str:
    return json.dumps(messages, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def build(collected: Path, report: Path) -> dict:
    answers: dict[str, str] = {}
    tokens: dict[str, int] = {}
    for line in collected.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r.get("model") != MODEL:
            continue
        answers.setdefault(r["prompt"], str(r["response"])[:CAP])
    doc = json.loads(report.read_text(encoding="utf-8"))
    by_messages: dict[str, str] = {}
    for p in doc["probes"]:
        msgs = (p.get("request") or {}).get("json", {}).get("messages")
        if not msgs:
            continue
        k = messages_key(msgs)
        pt = (p.get("usage") or {}).get("prompt_tokens")
        if isinstance(pt, int):
            tokens[k] = pt
        if p.get("status") == "ok" and p.get("family") in ("tokenizer", "api") and isinstance(p.get("text"), str):
            by_messages[k] = p["text"][:CAP]
    return {
        "model": MODEL, "creator": "Alibaba", "model_card": "Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF) on llama.cpp",
        "sources": {str(f.relative_to(ROOT)): "sha256:" + hashlib.sha256(f.read_bytes()).hexdigest()
                    for f in (collected, report)},
        "answers": dict(sorted(answers.items())),
        "answers_by_messages": dict(sorted(by_messages.items())),
        "prompt_tokens": dict(sorted(tokens.items())),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--collected", type=Path, default=ROOT / "data" / "collected" / "local-models.jsonl")
    ap.add_argument("--report", type=Path, default=ROOT / "data" / "e2e-reports" / f"{MODEL}.json")
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "src" / "provenance" / "data" / "demo-replay.json.gz")
    a = ap.parse_args(argv)
    doc = build(a.collected.resolve(), a.report.resolve())
    raw = json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=0).encode("utf-8")
    a.out.write_bytes(gzip.compress(raw, mtime=0))     # mtime 0: the same input gives the same bytes
    print(f"{a.out}: {len(doc['answers'])} answers, {len(doc['answers_by_messages'])} tokenizer/API answers, "
          f"{len(doc['prompt_tokens'])} prompt-token counts, {a.out.stat().st_size} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
