"""Benchmark: CLI start-up time (target < 0.3 s) and the slowest imports behind it.

    python benchmarks/bench_startup.py [--runs 15] [--top 8]

Times ``provenance --help`` and ``provenance probes list`` as subprocesses
(median of --runs; also the child's user+sys CPU time, which other processes'
load inflates less than wall time), both through the installed console script
(``provenance`` on PATH, which may be a pyenv shim that adds its own start-up)
and through the interpreter directly (``python -c "from provenance.cli import main; main()"``),
plus a bare ``python -c pass`` for the interpreter's own floor. Then runs each
command once under ``python -X importtime`` and prints the top imports by
cumulative time (a single run: noisy on a loaded machine, use for ranking).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CLI_BOOT, SRC, cli_argv, machine_line, run_timed, spread  # noqa: E402

COMMANDS = (("--help",), ("probes", "list"))


def importtime(args: tuple[str, ...], top: int) -> list[tuple[int, int, str]]:
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-X", "importtime", "-c", CLI_BOOT, *args], capture_output=True,
                       text=True, env=env, timeout=60)
    rows = []
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        try:
            self_us, cum_us, name = _parse(line)
        except ValueError:
            continue
        rows.append((cum_us, self_us, name))
    total = sum(c for c, _s, n in rows if not n.startswith(" "))
    rows.sort(reverse=True)
    return [(total, 0, "(all top-level imports)")] + rows[:top]


def _parse(line: str) -> tuple[int, int, str]:
    """'import time:  self_us |  cumulative_us | name' (nesting shown by leading spaces in name)."""
    head, cum, name = line.split("|", 2)
    return int(head.split(":", 1)[1]), int(cum), name.rstrip()[1:]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--top", type=int, default=8)
    args = ap.parse_args()
    print(f"# bench_startup  {machine_line()}  runs={args.runs}")
    base = [run_timed([sys.executable, "-c", "pass"]) for _ in range(args.runs)]
    print(f"python -c pass                      {spread([t.wall_s for t in base])} s  "
          f"cpu {spread([t.cpu_s for t in base])} s")
    script = shutil.which("provenance")
    for cmd in COMMANDS:
        label = "provenance " + " ".join(cmd)
        direct = [run_timed(cli_argv(*cmd)) for _ in range(args.runs)]
        rcs = sorted({t.rc for t in direct})
        print(f"{label:<22} python -c   {spread([t.wall_s for t in direct])} s  rc={rcs}  (target < 0.3)")
        print(f"{'':<22}   its cpu    {spread([t.cpu_s for t in direct])} s  (user+sys: less sensitive to load)")
        if script:
            shim = [run_timed([script, *cmd]) for _ in range(args.runs)]
            print(f"{label:<22} {Path(script).name} script {spread([t.wall_s for t in shim])} s  ({script})")
    for cmd in COMMANDS:
        print(f"-X importtime: provenance {' '.join(cmd)} (top {args.top} by cumulative, ms)")
        for cum, self_us, name in importtime(cmd, args.top):
            print(f"  {cum / 1000:8.1f}  {name.strip() if name.startswith('(') else name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
