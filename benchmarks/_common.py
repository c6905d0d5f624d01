"""Helpers shared by the benchmark scripts (servers in their own processes, timed subprocesses)."""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

# Runs the CLI with the keyword baseline (the shipped trained model refuses any other probe set).
KEYWORD_BOOT = ("import provenance.classifier as c; c.default_model_dir = lambda: None; "
                "from provenance.cli import main; main()")
CLI_BOOT = "from provenance.cli import main; main()"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine_line() -> str:
    return f"cpus={os.cpu_count()} loadavg(1/5/15m)={loadavg()} python={sys.version.split()[0]}"


def med(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def spread(xs: Sequence[float], fmt: str = "{:.3f}") -> str:
    """'median (min..max, n=N)'."""
    if not xs:
        return "n/a"
    return f"{fmt.format(med(xs))} ({fmt.format(min(xs))}..{fmt.format(max(xs))}, n={len(xs)})"


class Urls(list):
    """Base URLs of one fake-server process, with its pid (to read its CPU time)."""
    pid: int = 0

    def server_cpu_s(self) -> float:
        """User + system CPU seconds the server process has used so far (Linux /proc)."""
        try:
            f = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")


@contextlib.contextmanager
def fake_servers(*, latency: float = 1.0, ports: int = 1, answer: str | None = None,
                 usage: str = "default", module: bool = False, faults_by_path: bool = False) -> Iterator[Urls]:
    """Start one fake-server process; yield its OpenAI-style base URLs (one per port).

    ``module=True`` runs the shipped ``python -m provenance.testing.fakeserver``
    (one port, default answers and usage); otherwise ``benchmarks/_fakeproc.py``.
    """
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if module:
        cmd = [sys.executable, "-m", "provenance.testing.fakeserver", "--latency", str(latency)]
    else:
        cmd = [sys.executable, str(ROOT / "benchmarks" / "_fakeproc.py"), "--latency", str(latency),
               "--ports", str(ports), "--usage", usage]
        if answer is not None:
            cmd += ["--answer", answer]
        if faults_by_path:
            cmd += ["--faults-by-path"]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = p.stdout.readline() if p.stdout else ""
        if not line.startswith("READY "):
            raise RuntimeError(f"fake server did not start: {line!r}")
        urls = Urls(line.split()[1:])
        urls.pid = p.pid
        yield urls
    finally:
        with contextlib.suppress(Exception):
            p.stdin.close()             # type: ignore[union-attr]
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@dataclass
class Timed:
    rc: int
    wall_s: float
    cpu_s: float           # user + system of the child
    maxrss_mib: float      # peak resident set of the child
    stdout: str
    stderr: str
    runq_wait_s: float = float("nan")   # time runnable but waiting for a CPU (other processes' load)


def run_timed(argv: Sequence[str], *, env: dict | None = None, timeout: float = 600.0,
              cwd: str | None = None) -> Timed:
    """Run a child, return wall time, its own CPU time and peak RSS (os.wait4: this child only)."""
    e = dict(os.environ if env is None else env)
    e["PYTHONPATH"] = str(SRC) + os.pathsep + e.get("PYTHONPATH", "")
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(list(argv), stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=e, cwd=cwd)
        deadline = t0 + timeout
        runq, last_read = float("nan"), 0.0
        while True:
            now = time.perf_counter()
            if now - last_read > 0.05:
                runq, last_read = _runq_wait(p.pid, runq), now
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.002 if now - t0 < 1.0 else 0.02)   # fine early (start-up timings), cheap later
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Timed(p.returncode, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, out.read(), err.read(),
                     runq)


def _runq_wait(pid: int, last: float) -> float:
    """Seconds the process's threads spent runnable but not running (/proc/PID/task/*/schedstat)."""
    total = 0.0
    try:
        for t in Path(f"/proc/{pid}/task").iterdir():
            total += int((t / "schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return last
    return total


def cli_argv(*args: str, keyword: bool = False) -> list[str]:
    """``provenance ARGS`` as a child process (the current interpreter, no console-script shim)."""
    return [sys.executable, "-c", KEYWORD_BOOT if keyword else CLI_BOOT, *args]


def write_probe_subset(dest: Path, n: int) -> Path:
    """A probe-set directory with ``n`` probes of the shipped set, taken round-robin over families.

    Written as TOML by hand from the loaded probes; its hash differs from the
    shipped set's, so the CLI must run it with the keyword baseline.
    """
    import json

    from provenance.probes import load_probeset

    ps = load_probeset()
    by_family: dict[str, list] = {}
    for p in ps.probes:
        by_family.setdefault(p.family, []).append(p)
    chosen = []
    while len(chosen) < min(n, len(ps.probes)):      # round-robin over families
        for fam in list(by_family):
            if by_family[fam] and len(chosen) < n:
                chosen.append(by_family[fam].pop(0))
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "probeset.toml").write_text(f'schema_version = 1\nname = "bench-subset-{n}"\nversion = "1"\n')
    lines = []
    for p in chosen:
        c = p.canonical()
        lines.append("[[probe]]")
        for k in ("id", "family", "mode", "corpus", "stream", "max_tokens", "temperature", "text", "notes"):
            v = c[k]
            if v is None:
                continue
            lines.append(f"{k} = {json.dumps(v, ensure_ascii=False)}")
        msgs = ", ".join("{ " + ", ".join(f"{mk} = {json.dumps(mv, ensure_ascii=False)}" for mk, mv in m.items()) + " }"
                         for m in c["messages"])
        lines.append(f"messages = [{msgs}]")
        if c["params"]:
            lines.append("params = " + _toml_inline(c["params"]))
        lines.append("")
    (dest / "subset.toml").write_text("\n".join(lines))
    return dest


def _toml_inline(v) -> str:
    import json
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_inline(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(_toml_inline(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v, ensure_ascii=False)


@contextlib.contextmanager
def tmpdir(prefix: str = "provbench-") -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
