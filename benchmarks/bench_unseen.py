"""Attribution of models the classifier has never seen, through the CLI, as the independent check does it.

Trains a model on the reference corpus without a held-out set (new models of known makers, every
model of a few makers, as the corpus has them), then serves each held-out model's real recorded
answers with ``../shared/tools/replay_server.py`` (no usage, neutral ids, 404 for prompts it
lacks) and probes it with ``provenance probe URL --json`` against that model. Prints, per model,
the truth and the verdict, then: known makers' models named right (an `unknown` counts as wrong),
unknown makers' models reported `unknown`, mean confidence against accuracy (the gap), and the
confident wrong verdicts.

    python benchmarks/bench_unseen.py [--corpus ../shared/reference] [--work DIR] [--keep-model]

Needs the corpus (it is not shipped); takes one training run (several minutes) plus a few seconds
a model. Nothing from the corpus is written into the repository: the filtered corpus and the model
live in --work (a temporary directory by default).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# New models of makers that stay known, chosen across sources (benchpress, speechmap, alpaca_eval,
# arena_hard, identity, cutoff), and every model of makers left out whole.
HOLDOUT_MODELS = ("gpt-5.4", "claude-opus-4.6", "gemini-3.1-pro-preview", "llama-4-scout", "qwen3-235b-a22b",
                  "deepseek-r1", "grok-3", "glm-5", "qwen2-72b-instruct", "mistral-large-2402",
                  "claude-3-5-sonnet-20240620", "gpt-4o-2024-05-13", "gemma-3-27b-it", "llama-3.1-8b-instruct",
                  "qwen3-coder-30b-a3b", "gpt-oss-20b")
HOLDOUT_CREATORS = ("MiniMax", "Cohere", "01.AI", "Moonshot", "Baidu", "StepFun")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"replay server on port {port} did not start")


def filtered_corpus(corpus: Path, out: Path, hold: set[str], creators: set[str]) -> dict[str, str]:
    """Write the corpus without the held-out models into ``out``; the held-out models' creators."""
    out.mkdir(parents=True, exist_ok=True)
    held: dict[str, str] = {}
    with gzip.open(corpus / "responses.jsonl.gz", "rt", encoding="utf-8") as fi, \
            gzip.open(out / "responses.jsonl.gz", "wt", encoding="utf-8") as fo:
        for line in fi:
            r = json.loads(line)
            if r["model"] in hold or r["creator"] in creators:
                held[r["model"]] = r["creator"]
                continue
            fo.write(line)
    for name in ("cutoff_events.jsonl", "models.json", "derivatives.jsonl.gz"):   # fine-tunes: the verdict map
        if (corpus / name).is_file():
            shutil.copy(corpus / name, out / name)
    return held


def capped_tokens(report: dict) -> int:
    """Tokens a run costs as a real endpoint would bill it: the replay server returns whole
    recorded answers whatever ``max_tokens`` asks, so each answer counts at most its probe's
    max_tokens (about four characters a token), plus the prompt."""
    total = 0
    for p in report.get("probes") or []:
        req = (p.get("request") or {}).get("json") or {}
        cap = int(req.get("max_tokens") or req.get("max_completion_tokens") or 10**9)
        sent = sum(len(str(m.get("content", ""))) for m in req.get("messages") or [] if isinstance(m, dict))
        text = p.get("text") or ""
        if text:
            total += sent // 4 + 1 + min(len(text) // 4, cap)
    return total


def probe(url: str, model_dir: Path, env: dict, extra: list[str]) -> tuple[dict | None, float]:
    t0 = time.time()
    got = subprocess.run([sys.executable, "-m", "provenance", "probe", url, "--model", "anonymous", "--json",
                          "--no-store", "--model-dir", str(model_dir), *extra],
                         capture_output=True, text=True, env=env, timeout=900)
    try:
        return json.loads(got.stdout), time.time() - t0
    except ValueError:
        return None, time.time() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "reference"))
    ap.add_argument("--work", default=None, help="scratch directory (default: a temporary one)")
    ap.add_argument("--model-dir", default=None, help="use this trained model instead of training one")
    ap.add_argument("--replay", default=str(ROOT.parent / "shared" / "tools" / "replay_server.py"))
    ap.add_argument("--json", dest="as_json", default=None, help="also write the per-model rows here")
    ap.add_argument("--until-confident", type=float, default=None,
                    help="also probe each model with --until-confident P and compare tokens and verdicts")
    args = ap.parse_args()
    corpus = Path(args.corpus)
    if not (corpus / "responses.jsonl.gz").is_file():
        print(f"bench_unseen: {corpus} is not a reference corpus", file=sys.stderr)
        return 2
    work = Path(args.work or tempfile.mkdtemp(prefix="provenance-unseen-"))
    held = filtered_corpus(corpus, work / "corpus", set(HOLDOUT_MODELS), set(HOLDOUT_CREATORS))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    model_dir = Path(args.model_dir) if args.model_dir else work / "model"
    if not args.model_dir:
        t0 = time.time()
        subprocess.run([sys.executable, "-m", "provenance", "train", "--corpus", str(work / "corpus"),
                        "-o", str(model_dir), "--quiet"], check=True, env=env)
        print(f"trained without {len(held)} models in {time.time() - t0:.0f}s", flush=True)
    known_creators = set(json.loads((model_dir / "manifest.json").read_text())["labels"])
    rows = []
    for m in sorted(held):
        port = free_port()
        srv = subprocess.Popen([sys.executable, args.replay, str(corpus / "responses.jsonl.gz"), m,
                                "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/v1"
        try:
            wait_port(port)
            rep, wall = probe(url, model_dir, env, [])
            adaptive = (probe(url, model_dir, env, ["--until-confident", str(args.until_confident)])[0]
                        if args.until_confident else None)
        finally:
            srv.terminate()
            srv.wait(10)
        failed = {"status": "failed", "creator": "-", "confidence": 0.0}
        a = (rep or {}).get("attribution") or failed
        n_ok = ((rep or {}).get("summary") or {}).get("ok", 0)
        truth = held[m]
        row = {"model": m, "truth": truth, "known_creator": truth in known_creators, "status": a["status"],
               "creator": a["creator"], "confidence": a["confidence"], "ok": n_ok, "wall": round(wall, 1),
               "lineage": (a.get("lineage") or {}).get("creator"), "tokens": capped_tokens(rep or {})}
        if adaptive is not None:
            aa = adaptive.get("attribution") or failed
            row.update({"adaptive_status": aa["status"], "adaptive_creator": aa["creator"],
                        "adaptive_confidence": aa["confidence"], "adaptive_tokens": capped_tokens(adaptive),
                        "adaptive_ok": (adaptive.get("summary") or {}).get("ok", 0)})
        rows.append(row)
        print(f"{m:34s} {truth:12s} -> {a['status']:9s} {a['creator']:12s} {a['confidence']:.2f} "
              f"(ok {n_ok}, {row['tokens']} tokens, {wall:.1f}s)"
              + (f" | adaptive {row['adaptive_status']} {row['adaptive_creator']} {row['adaptive_confidence']:.2f} "
                 f"({row['adaptive_ok']} ok, {row['adaptive_tokens']} tokens)" if adaptive is not None else ""),
              flush=True)
    kn = [r for r in rows if r["known_creator"] and r["status"] != "failed"]
    un = [r for r in rows if not r["known_creator"] and r["status"] != "failed"]
    named = [r for r in kn if r["status"] != "unknown"]
    right = [r["creator"] == r["truth"] for r in named]
    print(f"known makers' models named right (unknown counts wrong): "
          f"{sum(r['creator'] == r['truth'] for r in kn)}/{len(kn)}")
    print(f"unknown makers' models reported unknown: {sum(r['status'] == 'unknown' for r in un)}/{len(un)}")
    if named:
        mc = sum(r["confidence"] for r in named) / len(named)
        acc = sum(right) / len(named)
        print(f"named verdicts: {len(named)}, accuracy {acc:.2f}, mean confidence {mc:.2f}, gap {mc - acc:+.2f}")
    wrong = [r for r in rows if r["status"] not in ("unknown", "failed") and r["creator"] != r["truth"]
             and r["confidence"] >= 0.8]
    print("confident (0.8+) wrong verdicts: " + (", ".join(f"{r['model']} -> {r['creator']} {r['confidence']:.2f}"
                                                   for r in wrong) or "none"))
    lin = [r for r in un if r["status"] == "unknown" and r["lineage"]]
    print(f"unknown makers' models given a lineage: {len(lin)}/{len(un)}")
    if rows:
        toks = sorted(r["tokens"] for r in rows if r["status"] != "failed")
        print(f"tokens of a full run (answers capped at max_tokens): median {toks[len(toks) // 2] if toks else '-'}")
    ad = [r for r in rows if "adaptive_tokens" in r and r["status"] != "failed"]
    if ad:
        toks = sorted(r["adaptive_tokens"] for r in ad)
        full_right = sum(r["creator"] == r["truth"] for r in ad if r["known_creator"])
        ad_right = sum(r["adaptive_creator"] == r["truth"] for r in ad if r["known_creator"])
        nk = sum(r["known_creator"] for r in ad)
        print(f"--until-confident {args.until_confident}: median tokens {toks[len(toks) // 2]}; known makers' "
              f"models named right {ad_right}/{nk} (full run {full_right}/{nk})")
    if args.as_json:
        Path(args.as_json).write_text(json.dumps(rows, indent=1))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
