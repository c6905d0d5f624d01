"""Benchmark: wall time of one probe run against a slow loopback endpoint.

    python benchmarks/bench_probe_wall.py [--latency 1] [--repeat 3] [--classifier model|keyword]
                                          [--concurrency N ...] [--no-cli]

A fake LLM server runs in its own process (``python -m provenance.testing.fakeserver
--latency L``), so its CPU is off the client's GIL, and answers every request
after L seconds. The whole shipped probe set is run through
``run.target.probe_async`` (what ``provenance probe`` runs) at a concurrency equal
to the probe count and at 8 (all at once: the pacer starts at the cap), and
adaptively (cap = the probe count, starting at ``RunSettings.start_concurrency``,
what the CLI does without ``--concurrency``). Printed per setting (medians of
--repeat runs): wall, slowest single probe latency, wall / slowest (target <= 1.3
when concurrency >= probe count), the sum of latencies (the serial wall), and
the ideal wall ceil(probes / concurrency) x latency.

Then the CLI end to end: ``provenance probe URL --model m --json --no-store``
with ``--concurrency N`` (every probe, and 8: caps; the pacer starts at min(N, 4))
and without it (the CLI's default: up to every probe, adaptive from 4) as a subprocess, minus the start-up of ``provenance --help``
(interpreter + CLI import), and the probing span the report itself records
(run.started_at .. finished_at).
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
    # start: the pacer's first level (default: all at once, the cap); "adaptive" rows use the
    # library's default start instead (RunSettings.start_concurrency, 4)
    settings = RunSettings(concurrency=concurrency, start_concurrency=start or concurrency)
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
    ap.add_argument("--latency", type=float, default=1.0, help="server delay before each reply, s")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--classifier", choices=("model", "keyword"), default="model")
    ap.add_argument("--concurrency", type=int, nargs="*", default=None,
                    help="concurrency settings to time in process (default: the probe count and 8)")
    ap.add_argument("--no-cli", action="store_true", help="skip the CLI end-to-end timing")
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
        from provenance.settings import RunSettings
        adaptive = RunSettings().start_concurrency
        for c, st in [(c, None) for c in concs] + [(n_probes, adaptive)]:
            rs = [in_process(url, concurrency=c, classifier_kind=args.classifier, start=st)
                  for _ in range(args.repeat)]
            ideal = math.ceil(n_probes / c) * args.latency
            walls = [r["wall"] for r in rs]
            slow = [r["slowest"] for r in rs]
            label = f"concurrency={c:<3}" + (f" adaptive from {st}" if st else " all at once")
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
        for c, flag in ((default, []), (default, ["--concurrency", str(default)]), (8, ["--concurrency", "8"])):
            walls, spans, rcs = [], [], set()
            for _ in range(args.repeat):
                t = run_timed(cli_argv("probe", url, "--model", "m", "--json", "--no-store",
                                       *flag, keyword=args.classifier == "keyword"))
                rcs.add(t.rc)
                walls.append(t.wall_s)
                try:
                    rep = json.loads(t.stdout)
                    spans.append(_iso(rep["run"]["finished_at"]) - _iso(rep["run"]["started_at"]))
                except (ValueError, KeyError):
                    print(f"  (no JSON report; rc={t.rc}: {t.stderr.strip()[-300:]})")
            ideal = math.ceil(n_probes / c) * args.latency
            how = f"--concurrency {c}" if flag else f"(default: up to {c})"
            print(f"CLI probe {how:<22} rc={sorted(rcs)}  (CLI max is {MAX_CONCURRENCY})")
            print(f"  wall_s                  {spread(walls)}")
            print(f"  wall_minus_startup_s    {spread([w - med(start) for w in walls])}   ideal {ideal:.2f}")
            print(f"  probing_span_s (report) {spread(spans)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
