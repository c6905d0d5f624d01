"""Benchmark: wall time of one probe run against a slow loopback endpoint.

    python benchmarks/bench_probe_wall.py [--latency 3] [--repeat 3] [--classifier model|keyword]
                                          [--concurrency N ...] [--no-cli]

A fake LLM server runs in its own process (``python -m provenance.testing.fakeserver
--latency L``), so its CPU is off the client's GIL, and answers every request
after L seconds: a generic OpenAI-compatible server that says nothing of itself (its
``GET /props``, ``/info``, ``/api/version`` are 404s). The whole shipped probe set is run
through ``run.target.probe_async`` (what ``provenance probe`` runs) with the
library's defaults at a cap equal to the probe count (what the CLI does without
``--concurrency``: a server that says nothing gets every probe at once), at a cap of 8, and
starting from 4 (the start before issue 35, for comparison). Printed per setting (medians of
--repeat runs): wall, slowest single probe latency, wall / slowest (target <= 1.3 in process
when the cap >= probe count), the sum of latencies (the serial wall), and the ideal wall
ceil(probes / concurrency) x latency.

Then the CLI end to end, as a user runs it: ``provenance probe URL --model m --json
--no-store`` with its defaults, and with ``--concurrency 8``, as a subprocess: its wall and
wall / slowest probe (issue 35's goal: at most 2 with the defaults against a server answering
in 3 s), minus the start-up of ``provenance --help``, and the probing span the report itself
records (run.started_at .. finished_at).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cli_argv, fake_servers, machine_line, med, run_timed, spread  # noqa: E402


def _iso(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def in_process(url: str, *, concurrency: int, classifier_kind: str, start: int | None = None) -> dict:
    from provenance.classifier import load_classifier
    from provenance.classifier.keyword import KeywordClassifier
    from provenance.run.target import probe_async
    from provenance.probes import load_probeset
    from provenance.settings import RunSettings, make_target

    ps = load_probeset()
    clf = KeywordClassifier() if classifier_kind == "keyword" else load_classifier(None, ps)
    target = make_target(url, "m", require_key=False)
    # start: the pacer's first level; None: the library's default (what the server says, else the cap)
    settings = RunSettings(concurrency=concurrency, start_concurrency=start)
    t0 = time.perf_counter()
    report = asyncio.run(probe_async(target, probeset=ps, classifier=clf, settings=settings))
    wall = time.perf_counter() - t0
    lat = [p["latency_ms"] / 1000 for p in report["probes"] if p.get("latency_ms") is not None]
    ok = sum(1 for p in report["probes"] if p["status"] == "ok")
    span = _iso(report["run"]["finished_at"]) - _iso(report["run"]["started_at"])
    return {"wall": wall, "slowest": max(lat), "sum": sum(lat), "n": len(report["probes"]), "ok": ok,
            "span": span, "classify": wall - span, "classifier": report["classifier"].get("name")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--latency", type=float, default=3.0, help="server delay before each reply, s")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--classifier", choices=("model", "keyword"), default="model")
    ap.add_argument("--concurrency", type=int, nargs="*", default=None,
                    help="concurrency settings to time in process (default: the probe count and 8)")
    ap.add_argument("--no-cli", action="store_true", help="skip the CLI end-to-end timing")
    ap.add_argument("--cli-cap", type=int, default=8, help="also time the CLI with --concurrency N (0: skip)")
    args = ap.parse_args()

    from provenance.cli.probe_cmd import MAX_CONCURRENCY
    from provenance.probes import load_probeset
    n_probes = len(load_probeset().probes)
    concs = args.concurrency or [n_probes, 8]
    print(f"# bench_probe_wall  {machine_line()}")
    print(f"# {n_probes} probes, server latency {args.latency}s (own process), classifier={args.classifier}, "
          f"repeat={args.repeat}")
    with fake_servers(latency=args.latency, module=True) as urls:
        url = urls[0]
        cold = in_process(url, concurrency=n_probes, classifier_kind=args.classifier)   # first run in this process
        print(f"first run in a fresh process (concurrency={n_probes}): wall_s {cold['wall']:.3f}  "
              f"probing_span_s {cold['span']:.3f}  classify_s {cold['classify']:.3f}  (one-off lazy loads)")
        for c, st in [(c, None) for c in concs] + [(n_probes, 4)]:
            rs = [in_process(url, concurrency=c, classifier_kind=args.classifier, start=st)
                  for _ in range(args.repeat)]
            ideal = math.ceil(n_probes / c) * args.latency
            walls = [r["wall"] for r in rs]
            slow = [r["slowest"] for r in rs]
            label = f"cap={c:<3}" + (f" starting from {st}" if st else " library defaults")
            print(f"in-process {label} ok={rs[0]['ok']}/{rs[0]['n']} classifier={rs[0]['classifier']}")
            print(f"  wall_s            {spread(walls)}   ideal {ideal:.2f}")
            print(f"  slowest_probe_s   {spread(slow)}")
            print(f"  wall/slowest      {spread([w / s for w, s in zip(walls, slow)], '{:.2f}')}"
                  + ("   (target <= 1.3)" if c >= n_probes else ""))
            print(f"  wall/ideal        {spread([w / ideal for w in walls], '{:.2f}')}")
            print(f"  sum_latencies_s   {spread([r['sum'] for r in rs], '{:.1f}')}")
            print(f"  classify_s        {spread([r['classify'] for r in rs])}  (wall minus the probing span)")
        if args.no_cli:
            return 0
        start = [run_timed(cli_argv("--help")).wall_s for _ in range(max(5, args.repeat))]
        print(f"CLI start-up (provenance --help)  {spread(start)}")
        default = min(n_probes, MAX_CONCURRENCY)    # what `provenance probe` sends without --concurrency
        last_report = ""
        for c, flag in [(default, [])] + ([(args.cli_cap, ["--concurrency", str(args.cli_cap)])] if args.cli_cap else []):
            walls, spans, slows, rcs = [], [], [], set()
            for _ in range(args.repeat):
                t = run_timed(cli_argv("probe", url, "--model", "m", "--json", "--no-store",
                                       *flag, keyword=args.classifier == "keyword"))
                rcs.add(t.rc)
                walls.append(t.wall_s)
                try:
                    rep = json.loads(t.stdout)
                    spans.append(_iso(rep["run"]["finished_at"]) - _iso(rep["run"]["started_at"]))
                    slows.append(max(p["latency_ms"] / 1000 for p in rep["probes"] if p.get("latency_ms") is not None))
                except (ValueError, KeyError):
                    print(f"  (no JSON report; rc={t.rc}: {t.stderr.strip()[-300:]})")
            ideal = math.ceil(n_probes / c) * args.latency
            how = f"--concurrency {c}" if flag else f"(default: up to {c})"
            print(f"CLI probe {how:<22} rc={sorted(rcs)}  (CLI max is {MAX_CONCURRENCY})")
            print(f"  wall_s                  {spread(walls)}")
            if len(slows) == len(walls):
                print(f"  wall/slowest_probe      {spread([w / x for w, x in zip(walls, slows)], '{:.2f}')}"
                      + ("   (goal <= 2 with the defaults)" if not flag else ""))
            print(f"  wall_minus_startup_s    {spread([w - med(start) for w in walls])}   ideal {ideal:.2f}")
            print(f"  probing_span_s (report) {spread(spans)}")
            print(f"  fixed_cost_s            {spread([w - x for w, x in zip(walls, spans)])}  (wall minus the probing span)")
            if not flag and t.rc == 0:
                last_report = t.stdout
        if last_report:
            fixed_cost(last_report, args.repeat)
    return 0


# The fixed cost of a probe run, phase by phase, in a fresh process each time: what the CLI
# imports before the first request, the probe set, the model, and the classification of a
# full run's report (the last CLI run's, so every probe of the shipped set has an answer).
FIXED = r"""
import json, sys, time
T = time.perf_counter
t0 = T()
import provenance.cli, provenance.cli.probe_cmd, provenance.probing.one_target, provenance.endpoints.openai
import provenance.endpoints.http, provenance.probing.store
t1 = T()
from provenance.probes import load_probeset
ps = load_probeset(None)
t2 = T()
from provenance.classifier import load_classifier
clf = load_classifier(None, probeset=ps)
t3 = T()
from provenance.report import read_report, transcript_from_report
tr = transcript_from_report(read_report(sys.argv[1]))
t4 = T()
from provenance.attribute import classify_report_dict
classify_report_dict(tr, clf)
t5 = T()
print(json.dumps({"imports": t1 - t0, "probe_set": t2 - t1, "model_load": t3 - t2, "classify": t5 - t4,
                  "answers": sum(1 for r in tr.results if r.ok)}))
"""


def fixed_cost(report_json: str, repeat: int) -> None:
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "report.json"
        path.write_text(report_json, encoding="utf-8")
        bare = [run_timed([sys.executable, "-c", "pass"]).wall_s for _ in range(max(3, repeat))]
        runs = []
        for _ in range(max(3, repeat)):
            t = run_timed([sys.executable, "-c", FIXED, str(path)])
            if t.rc == 0:
                runs.append(json.loads(t.stdout.strip().splitlines()[-1]))
            else:
                print(f"  (fixed-cost run failed: {t.stderr.strip()[-300:]})")
    if not runs:
        return
    print(f"fixed cost of a probe run, fresh process each (classifying {runs[0]['answers']} answers):")
    print(f"  interpreter (python -c pass) {spread(bare)}")
    for k in ("imports", "probe_set", "model_load", "classify"):
        print(f"  {k:<28} {spread([r[k] for r in runs])}")
    print(f"  sum of the four             {spread([sum(r[k] for k in ('imports', 'probe_set', 'model_load', 'classify')) for r in runs])}")


if __name__ == "__main__":
    raise SystemExit(main())
