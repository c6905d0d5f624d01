"""Benchmark: `provenance scan` over a few hundred loopback entrants of which many misbehave.

    python benchmarks/bench_scan_faults.py [--entrants 300] [--concurrency 32] [--latency 0.5]
                                           [--timeout 2] [--small 8] [--no-baseline]

One fake-server process (``benchmarks/_fakeproc.py --ports N --faults-by-path``)
listens on N loopback ports; each entrant's base URL names its behaviour
(``/hang-e012/v1``...). The mix (of --entrants): 60% healthy, 10% accept and
never answer (hang), 5% trickle one byte every 0.5 s, 5% stall mid-body (a
fifth of the entrants stall or trickle), 10% rate limited (every third request
429 with Retry-After: 1), 5% flaky (every fourth 503), 5% connection refused (a
port nobody listens on). Healthy replies come after --latency seconds.

The real CLI runs as a subprocess on an N-probe subset of the shipped set with
the keyword baseline (as ``bench_scan.py --only small``), ``--timeout T
--total-timeout 2T``. A baseline scan of the healthy entrants alone (same
count) runs first unless --no-baseline, so the cost of the faulty ones reads as
"healthy wall + X".

Printed: wall, entrants/s, peak RSS of the scan process, the count of entrants
in each end state (complete / unusable / error) and why the unusable ones were
unusable, the outcome per fault kind, and the wall against "baseline + one
total timeout" (what isolation should give) and against the sum of the faulty
entrants' timeouts spread over the scan's slots (what it would cost without).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cli_argv, fake_servers, loadavg, machine_line, run_timed, tmpdir, write_probe_subset  # noqa: E402

MIX = (("ok", 0.60), ("hang", 0.10), ("trickle", 0.05), ("stall", 0.05), ("ratelimited", 0.10),
       ("flaky", 0.05), ("refused", 0.05))


def kinds_for(n: int) -> list[str]:
    out: list[str] = []
    for kind, share in MIX[1:]:
        out += [kind] * round(n * share)
    out = ["ok"] * (n - len(out)) + out
    # interleave so the faulty ones are spread through the list, not bunched at the end
    return [out[(i * 7919) % n] for i in range(n)] if n % 7919 else out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scan(kinds: list[str], *, concurrency: int, latency: float, timeout: float, small: int,
         limit_s: float) -> dict:
    n = len(kinds)
    with tmpdir() as d, fake_servers(latency=latency, ports=n, faults_by_path=True) as urls:
        probes_dir = write_probe_subset(d / "probes", small)
        ents = []
        for i, kind in enumerate(kinds):
            if kind == "refused":
                base = f"http://127.0.0.1:{free_port()}/refused-e{i:03d}/v1"
            else:
                base = urls[i % len(urls)].rsplit("/v1", 1)[0] + f"/{kind}-e{i:03d}/v1"
            ents.append({"name": f"{kind}-e{i:03d}", "base_url": base, "model": f"model-{i}"})
        (d / "entrants.json").write_text(json.dumps(ents))
        args = ["scan", str(d / "entrants.json"), "--db", str(d / "runs.db"), "--out", str(d / "out.jsonl"),
                "--concurrency", str(concurrency), "--probes", str(probes_dir),
                "--timeout", str(timeout), "--total-timeout", str(2 * timeout)]
        load = loadavg()
        t = run_timed(cli_argv(*args, keyword=True), timeout=limit_s)
        out = d / "out.jsonl"
        lines = [json.loads(x) for x in out.read_text().splitlines() if x.strip()] if out.exists() else []
    reports = [x for x in lines if x.get("schema_version") or x.get("type") == "error"]
    summary = next((x for x in lines if x.get("type") == "summary"), {})
    per_kind: dict[str, Counter] = {}
    for r in reports:
        name = (r.get("target") or {}).get("name") or r.get("entrant") or "?"
        kind = name.split("-")[0]
        if r.get("type") == "error":
            state = "error"
        else:
            a = r.get("attribution") or {}
            state = "unusable" if a.get("status") == "failed" else "complete"
            if state == "complete" and (r.get("summary") or {}).get("failed"):
                state = "complete, some probes lost"
        per_kind.setdefault(kind, Counter())[state] += 1
    return {"rc": t.rc, "wall": t.wall_s, "rss": t.maxrss_mib, "cpu": t.cpu_s, "runq": t.runq_wait_s,
            "summary": summary, "per_kind": per_kind, "load": load,
            "stderr": t.stderr.strip()[-600:] if t.rc else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entrants", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency", type=float, default=0.5)
    ap.add_argument("--timeout", type=float, default=2.0, help="--timeout given to the scan (total: twice)")
    ap.add_argument("--small", type=int, default=8, help="probes per entrant")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--limit", type=float, default=900.0)
    a = ap.parse_args()
    kinds = kinds_for(a.entrants)
    print(f"# bench_scan_faults  {machine_line()}")
    mix = Counter(kinds)
    print(f"# {a.entrants} entrants ({', '.join(f'{k} {v}' for k, v in mix.most_common())}), "
          f"{a.small} probes each, latency {a.latency}s, --concurrency {a.concurrency} "
          f"--timeout {a.timeout:g} --total-timeout {2 * a.timeout:g}")
    base = None
    if not a.no_baseline:
        base = scan(["ok"] * a.entrants, concurrency=a.concurrency, latency=a.latency, timeout=a.timeout,
                    small=a.small, limit_s=a.limit)
        print(f"baseline (all {a.entrants} healthy): wall {base['wall']:.1f}s, "
              f"{a.entrants / base['wall']:.2f} entrants/s, peak RSS {base['rss']:.0f} MiB, rc={base['rc']}, "
              f"load before {base['load']}")
    r = scan(kinds, concurrency=a.concurrency, latency=a.latency, timeout=a.timeout, small=a.small,
             limit_s=a.limit)
    s = r["summary"]
    print(f"mixed: rc={r['rc']} load before {r['load']}")
    if r["stderr"]:
        print(f"  stderr: {r['stderr']}")
    print(f"  wall_s          {r['wall']:.1f}  (scan's own elapsed_s {s.get('elapsed_s')})")
    print(f"  entrants_per_s  {a.entrants / r['wall']:.2f}")
    print(f"  peak_rss_mib    {r['rss']:.0f}  (scan process)")
    print(f"  client_cpu_s    {r['cpu']:.1f}  runq_wait_s {r['runq']:.1f}")
    print(f"  end states      complete {s.get('complete')}, unusable {s.get('unusable')}, error {s.get('error')}, "
          f"reused {s.get('reused')}")
    print(f"  unusable why    {json.dumps(s.get('unusable_why'))}")
    for kind in sorted(r["per_kind"]):
        c = r["per_kind"][kind]
        print(f"    {kind:<12} {dict(c)}")
    total = 2 * a.timeout
    faulty = sum(v for k, v in mix.items() if k in ("hang", "trickle", "stall"))
    if base is not None:
        print(f"  wall - baseline {r['wall'] - base['wall']:.1f}s  (one total timeout = {total:g}s; "
              f"without isolation the {faulty} stalling entrants would hold slots for about "
              f"{faulty * total / a.concurrency:.1f}s more, at best)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
