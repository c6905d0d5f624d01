"""Dead, stalling and overloaded endpoints through the real CLI (probe and scan), against loopback
servers; and a scan with stalling entrants killed part-way, then resumed."""

from __future__ import annotations

import itertools
import json
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from provenance.testing.fakeserver import FakeLLMServer, Fault

from factory import run_cli  # tests/factory.py (the probes_dir fixture is tests/conftest.py's)
from factory import N_SCAN_PROBES as N_PROBES, keyword_cli as cli, write_scan_probes as write_probes
from factory import (Served, cli_env as _env, count_rows as _count_rows, run_and_kill as _run_and_kill,
                     scan_cmd as _scan_cmd)
from test_pacing import llama_like  # tests/probing/test_pacing.py

_SERIAL = re.compile(r"serial#(\d+)")


def test_probe_against_a_silent_endpoint_ends_fast_with_exit_3_and_one_line(tmp_path: Path) -> None:
    with FakeLLMServer(fault_fn=lambda req: Fault.hang()) as srv:
        t0 = time.monotonic()
        p = run_cli(["probe", srv.base_url, "--model", "m", "--json", "--timeout", "1"], tmp_path, timeout=60)
        took = time.monotonic() - t0
    assert p.returncode == 3, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "not answering" in lines[0] and "timed out" in lines[0], p.stderr
    doc = json.loads(p.stdout)
    assert doc["attribution"]["status"] == "failed"
    assert doc["run"]["pacing"]["not_answering"]
    assert took < 30                     # one bounded timeout (2 s) plus start-up, not 132 x retries


def test_probe_against_a_refused_port_exit_3_one_line(tmp_path: Path) -> None:
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = run_cli(["probe", f"http://127.0.0.1:{port}/v1", "--model", "m", "--json"], tmp_path, timeout=60)
    assert p.returncode == 3
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not connect" in lines[0], p.stderr


def test_probe_against_a_four_slot_server_completes_every_probe_with_defaults(tmp_path: Path) -> None:
    # llama.cpp-like: 4 slots, the rest queue; the shipped probe set (every probe) with the CLI's
    # default options except a short read timeout that all-at-once would blow through
    with FakeLLMServer(slots=4, latency=0.05) as srv:
        p = run_cli(["probe", srv.base_url, "--model", "m", "--json", "--timeout", "1"], tmp_path)
        assert srv.busy_peak <= 4
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["summary"]["failed"] == 0, [x["error"] for x in doc["probes"] if x["status"] == "failed"][:5]


def test_probe_against_a_slow_four_slot_server_completes_every_probe_with_defaults(tmp_path: Path) -> None:
    # The README's first probe, scaled down: a llama.cpp-like server (4 slots, the rest queued,
    # the status line once the whole answer is generated, time in proportion to its tokens)
    # where a 300-token answer takes 0.18 s alone and about 0.25 s with its 4 slots busy: more
    # than a third of the read timeout (0.6 s), as a real CPU server's answers are of 60 s.
    # Every shipped probe, the CLI's default options but the read timeout.
    with llama_like(per_token=0.0006) as srv:
        p = run_cli(["probe", srv.base_url, "--model", "m", "--json", "--no-store", "--timeout", "0.6"],
                    tmp_path, timeout=300)
        assert srv.busy_peak <= 4
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["summary"]["failed"] == 0, [x["error"] for x in doc["probes"] if x["status"] == "failed"][:5]
    pacing = doc["run"]["pacing"]
    assert pacing["slow_replies"] >= 20, pacing
    assert pacing["sustained_concurrency"] >= 4 and pacing["final_concurrency"] >= 4, pacing


def test_deadline_help_says_a_slow_server_may_finish(tmp_path: Path) -> None:
    p = run_cli(["probe", "--help"], tmp_path)
    flat = " ".join(p.stdout.split())
    assert "default: 3600.0" in flat and "slow but answering server finish every probe" in flat


def test_timeout_help_says_which_is_which(tmp_path: Path) -> None:
    p = run_cli(["probe", "--help"], tmp_path)
    flat = " ".join(p.stdout.split())
    assert "Read timeout" in flat and "--total-timeout" in flat and "twice" in flat


def _entrants(tmp_path, specs):
    ef = tmp_path / "e.json"
    ef.write_text(json.dumps([{"name": n, "base_url": u, "model": "m"} for n, u in specs]))
    return ef


def test_scan_isolates_stalling_entrants(tmp_path: Path, probes_dir: Path) -> None:
    # 10 entrants, 2 stall (hang) and 1 trickles; listed FIRST so that, without isolation, they
    # would hold both scan slots for a whole timeout each before any healthy entrant started
    ok = FakeLLMServer(answer_fn=lambda b: "I am Claude, made by Anthropic.").start()
    bad = FakeLLMServer(fault_fn=lambda req: Fault.trickle(0.05) if "trickle" in req.path else Fault.hang()).start()
    try:
        specs = [("hang1", bad.url_for("hang1")), ("trickle1", bad.url_for("trickle1")),
                 ("hang2", bad.url_for("hang2"))] + [(f"good{i}", ok.url_for(f"good{i}")) for i in range(7)]
        ef = _entrants(tmp_path, specs)
        out = tmp_path / "out.jsonl"
        t0 = time.monotonic()
        r = cli(["scan", ef, "--db", tmp_path / "db", "--probes", probes_dir, "--out", out,
                 "--concurrency", "2", "--timeout", "1", "--total-timeout", "2"], timeout=120)
        took = time.monotonic() - t0
    finally:
        ok.stop()
        bad.stop()
    assert r.returncode == 0, r.stderr
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    summary = recs[-1]
    assert summary["complete"] == 7 and summary["unusable"] == 3
    # three probes each: every one timed out (too few for the streak that declares "not answering")
    assert summary["unusable_why"] == {"timed out": 3}, summary
    for rec in recs[:-1]:
        if rec["target"]["name"].startswith(("hang", "trickle")):
            rel = rec["attribution"]["reliability"]
            assert "timed out" in rel[0], rel
            assert any(p["error"].startswith("timeout") for p in rec["probes"])
    # serial would be 3 stalled entrants x 2 s on 2 slots before the healthy ones; isolated, the
    # whole scan is about one bounded timeout (2 s) plus the healthy work and start-up
    assert took < 3 * 2.0 + 20


def test_scan_with_stalling_entrants_killed_and_resumed_loses_and_reprobes_nothing(tmp_path: Path) -> None:
    served = Served()
    good = FakeLLMServer(answer_fn=served.answer_fn("I am Claude, made by Anthropic."), latency=0.15).start()
    n = itertools.count()
    flaky = FakeLLMServer(answer_fn=served.answer_fn("I am Gemini, made by Google."), latency=0.05,
                          fault_fn=lambda r: Fault.hang() if next(n) % 5 == 0 else None).start()
    stalled = FakeLLMServer(fault_fn=lambda r: Fault.stall(after_bytes=10)).start()
    try:
        probes = write_probes(tmp_path / "probes")
        names = {"g1": good, "g2": good, "g3": good, "f1": flaky, "f2": flaky, "st1": stalled, "st2": stalled}
        ef = _entrants(tmp_path, [(k, s.url_for(k)) for k, s in names.items()])
        db, out = tmp_path / "runs.db", tmp_path / "out.jsonl"
        cmd = _scan_cmd(ef, db, probes, out) + ["--timeout", "0.5", "--total-timeout", "1"]
        rc1 = _run_and_kill(cmd, db, at_rows=5)
        assert rc1 == -signal.SIGKILL, "the first scan finished before it could be killed"
        c = sqlite3.connect(db)
        before = {(row[0], row[1]): row[2] for row in c.execute(
            "SELECT p.run_id, p.probe_id, p.result_json FROM probe_results p WHERE p.status = 'ok'")}
        c.close()
        asked_before = dict(served.log)
        final = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=_env())
        assert final.returncode == 0, final.stderr
        c = sqlite3.connect(db)
        after = {(row[0], row[1]): row[2] for row in c.execute(
            "SELECT p.run_id, p.probe_id, p.result_json FROM probe_results p WHERE p.status = 'ok'")}
        runs = c.execute("SELECT entrant, status FROM runs").fetchall()
        c.close()
        for k, blob in before.items():              # nothing stored is lost or changed
            assert after.get(k) == blob
        # nothing stored was probed again: no (entrant, prompt) stored before was asked after the kill
        stored_before = set()
        for blob in before.values():
            m = _SERIAL.search(json.loads(blob)["text"])
            stored_before.add(served.log[int(m.group(1))])
        asked_after = [v for s, v in served.log.items() if s not in asked_before]
        assert not stored_before & set(asked_after)
        goods = [e for e, st in runs if e in ("g1", "g2", "g3") and st == "complete"]
        assert sorted(goods) == ["g1", "g2", "g3"]
        assert {e for e, st in runs if st == "failed"} >= {"st1", "st2"}
        recs = [json.loads(x) for x in out.read_text().splitlines()]
        assert recs[-1]["entrants"] == len(names)
        assert _count_rows(db) >= len(before)
        assert N_PROBES == 3
    finally:
        for s in (good, flaky, stalled):
            s.stop()
