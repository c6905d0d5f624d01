"""SIGKILL a scan part-way (twice), re-run it, and check nothing was lost or duplicated.

Every answer the fake servers give carries a unique serial number, so the
store's rows can be matched one for one against what the servers sent.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time

from provenance.testing.fakeserver import FakeLLMServer, Fault

from test_scan import CLI_BOOT, N_PROBES, write_probes  # noqa: E402  (tests dir is on sys.path)

GLOBAL_CONCURRENCY = 3
PROBE_CONCURRENCY = 1
_SERIAL = re.compile(r"serial#(\d+)")


class Served:
    """What the servers answered: serial -> (entrant, prompt)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counter = itertools.count(1)
        self.log: dict[int, tuple[str, str]] = {}

    def answer_fn(self, creator_line: str):
        def fn(body, request):
            entrant = request.path.strip("/").split("/")[0]
            prompt = next((m.get("content") for m in reversed(body.get("messages") or [])
                           if isinstance(m, dict) and m.get("role") == "user"), "")
            with self.lock:
                n = next(self.counter)
                self.log[n] = (entrant, prompt)
            return f"{creator_line} serial#{n}"
        return fn


def _count_rows(db) -> int:
    if not os.path.exists(db):
        return 0
    try:
        c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return c.execute("SELECT COUNT(*) FROM probe_results").fetchone()[0]
        finally:
            c.close()
    except sqlite3.Error:
        return 0


def _scan_cmd(ef, db, probes, out):
    return [sys.executable, "-c", CLI_BOOT, "scan", str(ef), "--db", str(db),
            "--probes", str(probes), "--out", str(out), "--concurrency", str(GLOBAL_CONCURRENCY),
            "--per-host", "2", "--probe-concurrency", str(PROBE_CONCURRENCY), "--retries", "3"]


def _env():
    e = dict(os.environ)
    e.pop("OPENAI_API_KEY", None)
    e.pop("ANTHROPIC_API_KEY", None)
    return e


def _run_and_kill(cmd, db, at_rows: int, limit_s: float = 30.0) -> int:
    """Start a scan, SIGKILL it once the store holds ``at_rows`` probe rows; return its exit status."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    end = time.monotonic() + limit_s
    try:
        while time.monotonic() < end and proc.poll() is None:
            if _count_rows(db) >= at_rows:
                break
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
    return proc.returncode


def test_sigkill_and_resume_loses_and_duplicates_nothing(tmp_path):
    served = Served()
    n429 = itertools.count()
    slow = FakeLLMServer(answer_fn=served.answer_fn("I am Claude, made by Anthropic."), latency=0.15).start()
    limited = FakeLLMServer(answer_fn=served.answer_fn("I am Gemini, made by Google."), latency=0.05,
                            fault_fn=lambda r: Fault.status(429, retry_after="0.05") if next(n429) % 4 == 0 else None
                            ).start()
    broken = FakeLLMServer(fault_fn=lambda r: Fault.status(400)).start()     # fails at once, no retries
    try:
        probes = write_probes(tmp_path / "probes")
        names = {"s1": slow, "s2": slow, "s3": slow, "r1": limited, "r2": limited, "dead": broken}
        ents = [{"name": n, "base_url": srv.url_for(n), "model": "m"} for n, srv in names.items()]
        ef = tmp_path / "e.json"
        ef.write_text(json.dumps(ents))
        db, out = tmp_path / "runs.db", tmp_path / "out.jsonl"
        cmd = _scan_cmd(ef, db, probes, out)
        good = [n for n in names if n != "dead"]
        total_good = len(good) * N_PROBES

        rc1 = _run_and_kill(cmd, db, at_rows=4)
        assert rc1 == -signal.SIGKILL, "the first scan finished before it could be killed"
        mid = _count_rows(db)
        rc2 = _run_and_kill(cmd, db, at_rows=mid + 5)
        assert rc2 == -signal.SIGKILL, "the second scan finished before it could be killed"
        final = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=_env())
        assert final.returncode == 0, final.stderr

        c = sqlite3.connect(db)
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        runs = c.execute("SELECT id, entrant, status FROM runs").fetchall()
        for n in good:
            complete = [r for r in runs if r[1] == n and r[2] == "complete"]
            assert len(complete) == 1, (n, runs)
            assert not [r for r in runs if r[1] == n and r[2] == "running"]
        assert all(r[2] == "failed" for r in runs if r[1] == "dead")

        stored = c.execute("SELECT r.entrant, p.run_id, p.probe_id, p.status, p.result_json FROM probe_results p "
                           "JOIN runs r ON r.id = p.run_id WHERE r.status = 'complete'").fetchall()
        c.close()
        assert len(stored) == total_good
        assert len({(s[1], s[2]) for s in stored}) == len(stored)          # one row per (run, probe)
        assert all(s[3] == "ok" for s in stored)
        serials = []
        for entrant, _, probe_id, _, blob in stored:
            m = _SERIAL.search(json.loads(blob)["text"])
            assert m, blob[:200]
            n = int(m.group(1))
            assert served.log[n][0] == entrant           # the row holds an answer really sent to that entrant
            serials.append(n)
        assert len(set(serials)) == len(serials)          # no answer stored twice

        # Answers the servers gave but the store lacks can only be those in flight at a kill.
        lost = set(served.log) - set(serials)
        assert len(lost) <= 2 * GLOBAL_CONCURRENCY * PROBE_CONCURRENCY, sorted(lost)
        # And every probe of every good entrant was answered at least once.
        prompts = {(e, p) for e, p in served.log.values()}
        assert len({x for x in prompts if x[0] in good}) == total_good

        lines = [json.loads(x) for x in out.read_text().splitlines()]
        assert lines[-1]["type"] == "summary" and lines[-1]["entrants"] == len(names)
        assert sorted(x["target"]["name"] for x in lines[:-1]) == sorted(names)
        assert lines[-1]["unusable"] == 1
    finally:
        for srv in (slow, limited, broken):
            srv.stop()
