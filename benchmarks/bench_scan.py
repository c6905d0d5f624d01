"""Benchmark: `provenance scan` throughput over many slow loopback entrants.

    python benchmarks/bench_scan.py [--entrants 200] [--concurrency 32] [--latency 1]
                                    [--probe-concurrency 64] [--small 8] [--repeat 1]
                                    [--only full|small]

One fake-server process (``benchmarks/_fakeproc.py --ports N``) listens on N
ephemeral loopback ports from one event loop, so every entrant is a distinct
``host:port`` endpoint (the scan's per-host limit, default 2, never binds) and
the server's CPU is off the client's process. Every reply comes after
--latency seconds.

The real CLI runs as a subprocess: entrants file (JSON) and ``--db`` in a temp
dir, ``--out`` JSONL, ``--concurrency C --probe-concurrency PC``. Two settings:

* full: the shipped probe set and the shipped trained model;
* small: an N-probe subset of the shipped set (round-robin over families) via
  ``--probes DIR``, with the keyword baseline (the trained model refuses any
  other probe set).

Printed: wall, entrants/s, requests/s, ideal wall (entrants x rounds x latency /
concurrency, rounds = ceil(probes / probe-concurrency)) and the brief's ideal
(entrants x latency / concurrency), client CPU seconds and CPU/wall, the time
the scan process sat runnable waiting for a core (other processes' load, from
/proc/PID/task/*/schedstat), server CPU seconds, peak RSS of the scan process
(os.wait4), the machine's load average, and which bound limits the scan on a
free core: CPU when the client's CPU seconds exceed the latency-bound ideal.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (cli_argv, fake_servers, loadavg, machine_line, med, run_timed, spread, tmpdir,  # noqa: E402
                     write_probe_subset)


def one_scan(*, n: int, concurrency: int, probe_conc: int, latency: float, small: int | None,
             timeout: float) -> dict:
    from provenance.probes import load_probeset

    with tmpdir() as d, fake_servers(latency=latency, ports=n) as urls:
        probes_dir = write_probe_subset(d / "probes", small) if small else None
        n_probes = len(load_probeset(probes_dir).probes)
        ents = [{"name": f"e{i:03d}", "base_url": urls[i % len(urls)], "model": f"model-{i}"} for i in range(n)]
        (d / "entrants.json").write_text(json.dumps(ents))
        args = ["scan", str(d / "entrants.json"), "--db", str(d / "runs.db"), "--out", str(d / "out.jsonl"),
                "--concurrency", str(concurrency), "--probe-concurrency", str(probe_conc)]
        if probes_dir:
            args += ["--probes", str(probes_dir)]
        load_before = loadavg()
        cpu0 = urls.server_cpu_s()
        t = run_timed(cli_argv(*args, keyword=bool(small)), timeout=timeout)
        server_cpu = urls.server_cpu_s() - cpu0
        out = d / "out.jsonl"
        if not out.exists():
            raise SystemExit(f"scan wrote no output (rc={t.rc}): {t.stderr.strip()[-600:]}")
        lines = [json.loads(x) for x in out.read_text().splitlines() if x.strip()]
    reports = [x for x in lines if x.get("schema_version")]
    summary = next((x for x in lines if x.get("type") == "summary"), {})
    sent = sum((r.get("summary") or {}).get("total", 0) for r in reports)
    ok = sum((r.get("summary") or {}).get("ok", 0) for r in reports)
    rounds = math.ceil(n_probes / probe_conc)
    return {"rc": t.rc, "wall": t.wall_s, "scan_elapsed": summary.get("elapsed_s"), "cpu": t.cpu_s,
            "rss": t.maxrss_mib, "runq": t.runq_wait_s, "server_cpu": server_cpu, "reports": len(reports), "requests": sent,
            "ok": ok, "n_probes": n_probes, "ideal": max(1.0, n / concurrency) * rounds * latency,
            "ideal_brief": max(1.0, n / concurrency) * latency, "load": load_before,
            "stderr": t.stderr.strip()[-400:] if t.rc else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entrants", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--probe-concurrency", type=int, default=64, help="CLI max 64; its default is 4")
    ap.add_argument("--latency", type=float, default=1.0)
    ap.add_argument("--small", type=int, default=8, help="probes in the small set")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--only", choices=("full", "small"), default=None)
    ap.add_argument("--timeout", type=float, default=900.0)
    args = ap.parse_args()
    print(f"# bench_scan  {machine_line()}")
    print(f"# {args.entrants} entrants on {args.entrants} distinct loopback ports (one server process), "
          f"latency {args.latency}s, --concurrency {args.concurrency} --probe-concurrency {args.probe_concurrency}")
    kinds = [("full", None), ("small", args.small)]
    for label, small in kinds:
        if args.only and args.only != label:
            continue
        rs = [one_scan(n=args.entrants, concurrency=args.concurrency, probe_conc=args.probe_concurrency,
                       latency=args.latency, small=small, timeout=args.timeout) for _ in range(args.repeat)]
        r0 = rs[0]
        clf = "keyword baseline" if small else "shipped model"
        print(f"{label}: {r0['n_probes']} probes/entrant, {clf}; rc={sorted({r['rc'] for r in rs})} "
              f"reports={r0['reports']} requests={r0['requests']} ok={r0['ok']}  load before: "
              + ", ".join(r["load"] for r in rs))
        for r in rs:
            if r["stderr"]:
                print(f"  stderr: {r['stderr']}")
        walls = [r["wall"] for r in rs]
        print(f"  wall_s             {spread(walls, '{:.1f}')}   (scan's own elapsed_s: "
              f"{', '.join(str(r['scan_elapsed']) for r in rs)})")
        print(f"  entrants_per_s     {spread([args.entrants / w for w in walls], '{:.2f}')}")
        print(f"  requests_per_s     {spread([r['requests'] / r['wall'] for r in rs], '{:.0f}')}")
        print(f"  ideal_wall_s       {r0['ideal']:.2f} (rounds of ceil({r0['n_probes']}/{args.probe_concurrency}))"
              f"  -> wall/ideal {spread([w / r0['ideal'] for w in walls], '{:.2f}')}")
        print(f"  brief_ideal_s      {r0['ideal_brief']:.2f} (1 round/entrant)"
              f"  -> wall/brief_ideal {spread([w / r0['ideal_brief'] for w in walls], '{:.2f}')}")
        print(f"  client_cpu_s       {spread([r['cpu'] for r in rs], '{:.1f}')}  "
              f"cpu/wall {spread([r['cpu'] / r['wall'] for r in rs], '{:.2f}')}  (~1.0 = one core saturated)")
        print(f"  client_runq_wait_s {spread([r['runq'] for r in rs], '{:.1f}')}  "
              f"(runnable but waiting for a core: machine load from other processes)")
        print(f"  client_blocked_s   {spread([r['wall'] - r['cpu'] - r['runq'] for r in rs], '{:.1f}')}  "
              f"(wall - cpu - runq wait: waiting on the network, disk or the server)")
        print(f"  server_cpu_s       {spread([r['server_cpu'] for r in rs], '{:.1f}')}")
        print(f"  peak_rss_mib       {spread([r['rss'] for r in rs], '{:.0f}')}  (scan process)")
        cpu_per_req = med([r["cpu"] / max(1, r["requests"]) * 1000 for r in rs])
        print(f"  client_cpu_ms_per_request {cpu_per_req:.2f}")
        busy = med([(r["cpu"] + r["runq"]) / r["wall"] for r in rs])
        print(f"  (cpu + runq wait)/wall {busy:.2f}  (share of wall the scan process wanted a core)")
        cpu = med([r["cpu"] for r in rs])
        bound = "CPU" if cpu > r0["ideal"] else "latency"
        print(f"  bound on a free core: {bound} (client CPU {cpu:.1f}s vs latency-bound ideal {r0['ideal']:.1f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
