"""Benchmark: tokens sent and received per probe run, per family, full and adaptive.

    python benchmarks/bench_cost.py [--usage chars4|default] [--answer TEXT] [--concurrency 8]

A fake server in its own process answers every probe with one fixed text that
claims one creator (default: Anthropic's Claude). Token counts come from the
``usage`` the server reports, read back from the report's ``cost`` and
``probes[].usage``:

* ``chars4`` (default): prompt tokens = ceil(characters / 4) per message + 3,
  completion tokens = ceil(answer characters / 4) (the answer is streamed in
  4-character pieces and cut at max_tokens pieces);
* ``default``: the fake server's own rough count (words + 4 per message;
  completion = words).

Runs through ``run.target.probe_async`` (what ``provenance probe`` runs) with the
shipped probe set and model: the full set, then ``--budget 8/16/32`` and
``--until-confident 0.9`` (batches of --concurrency, the CLI default 8).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import fake_servers, machine_line  # noqa: E402

FAMILIES = ("identity", "refusal", "cutoff", "style", "tokenizer", "api")
CLAIM = ("I'm Claude, an AI assistant made by Anthropic. I'd be glad to help with that: "
         "here is a short, careful answer, and let me know if you would like more detail.")


def run(url: str, *, budget: int | None, until: float | None, concurrency: int) -> dict:
    from provenance.classifier import load_classifier
    from provenance.run.target import probe_async
    from provenance.probes import load_probeset
    from provenance.settings import RunSettings, make_target

    ps = load_probeset()
    clf = load_classifier(None, ps)
    target = make_target(url, "m", require_key=False)
    return asyncio.run(probe_async(target, probeset=ps, classifier=clf, settings=RunSettings(concurrency=concurrency),
                                   budget=budget, until_confident=until))


def usage_of(p: dict) -> tuple[int, int]:
    u = p.get("usage") or {}
    a = u.get("prompt_tokens", u.get("input_tokens"))
    b = u.get("completion_tokens", u.get("output_tokens"))
    return (a if isinstance(a, int) else 0, b if isinstance(b, int) else 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--usage", choices=("chars4", "default"), default="chars4")
    ap.add_argument("--answer", default=CLAIM)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--latency", type=float, default=0.02)
    args = ap.parse_args()
    print(f"# bench_cost  {machine_line()}")
    print(f"# usage={args.usage}, answer ({len(args.answer)} chars) claims one creator: {args.answer[:60]!r}...")
    settings = [("full set", None, None), ("--budget 8", 8, None), ("--budget 16", 16, None),
                ("--budget 32", 32, None), ("--until-confident 0.9", None, 0.9)]
    with fake_servers(latency=args.latency, usage=args.usage, answer=args.answer) as urls:
        for label, budget, until in settings:
            rep = run(urls[0], budget=budget, until=until, concurrency=args.concurrency)
            c, a = rep["cost"], rep["attribution"]
            sent = [p for p in rep["probes"] if p["status"] != "skipped"]
            print(f"{label}: probes sent {len(sent)}/{len(rep['probes'])}  tokens sent {c['tokens_sent']} "
                  f"received {c['tokens_received']} total {c['tokens_total']} (basis {c['basis']})  "
                  f"-> {a['creator']} {a['confidence']:.2f} {a['status']}; stopped: {rep['run']['stopped_because']}")
            fam: dict[str, list[int]] = {}
            for p in sent:
                s, r = usage_of(p)
                row = fam.setdefault(p["family"], [0, 0, 0])
                row[0] += 1
                row[1] += s
                row[2] += r
            print("  " + "  ".join(f"{f}: n={fam[f][0]} in={fam[f][1]} out={fam[f][2]}"
                                   for f in FAMILIES if f in fam))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
