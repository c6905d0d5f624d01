"""SIGKILL a scan part-way (twice), re-run it, and check nothing was lost or duplicated.

Every answer the fake servers give carries a unique serial number, so the
store's rows can be matched one for one against what the servers sent.
"""

from __future__ import annotations

import itertools
import json
import signal
import sqlite3
import subprocess

from provenance.testing.fakeserver import Fault

from factory import (GLOBAL_CONCURRENCY, N_SCAN_PROBES, PROBE_CONCURRENCY, SERIAL, Served, cli_env, count_rows,
                     run_and_kill, scan_cmd, write_scan_probes)


def test_sigkill_and_resume_loses_and_duplicates_nothing(tmp_path, servers):
    served = Served()
    n429 = itertools.count()
    slow = servers(answer_fn=served.answer_fn("I am Claude, made by Anthropic."), latency=0.15)
    limited = servers(answer_fn=served.answer_fn("I am Gemini, made by Google."), latency=0.05,
                      fault_fn=lambda r: Fault.status(429, retry_after="0.05") if next(n429) % 4 == 0 else None)
    broken = servers(fault_fn=lambda r: Fault.status(400))     # fails at once, no retries
    probes = write_scan_probes(tmp_path / "probes")
    names = {"s1": slow, "s2": slow, "s3": slow, "r1": limited, "r2": limited, "dead": broken}
    ents = [{"name": n, "base_url": srv.url_for(n), "model": "m"} for n, srv in names.items()]
    ef = tmp_path / "e.json"
    ef.write_text(json.dumps(ents))
    db, out = tmp_path / "runs.db", tmp_path / "out.jsonl"
    cmd = scan_cmd(ef, db, probes, out)
    good = [n for n in names if n != "dead"]
    total_good = len(good) * N_SCAN_PROBES

    rc1 = run_and_kill(cmd, db, at_rows=4)
    assert rc1 == -signal.SIGKILL, "the first scan finished before it could be killed"
    mid = count_rows(db)
    rc2 = run_and_kill(cmd, db, at_rows=mid + 5)
    assert rc2 == -signal.SIGKILL, "the second scan finished before it could be killed"
    final = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=cli_env())
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
        m = SERIAL.search(json.loads(blob)["text"])
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
