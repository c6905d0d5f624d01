"""Interrupting and continuing a probe run (issue 36 items 6 and 7), against a real loopback server.

The server answers the first request and holds every other one until the test lets it go, so
the run is certainly in progress when the test reads the early model-name warning and presses
Ctrl-C (events, not sleeps). The child gets SIGINT's default action back before it starts, as a
terminal's Ctrl-C would find it, even when this test process runs with SIGINT ignored.
"""

from __future__ import annotations

import json
import queue
import signal
import sqlite3
import subprocess
import sys
import threading

from provenance.testing.fakeserver import Fault

from factory import CLI_BOOT, N_SCAN_PROBES, cli_env, keyword_cli

SERVED = "qwen2.5-coder-0.5b"


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _lines(stream, q: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        q.put(line)
    q.put(None)


def _wait_for(q: queue.Queue, text: str, seen: list[str], limit_s: float = 120.0) -> str:
    while True:
        line = q.get(timeout=limit_s)
        if line is None:
            raise AssertionError(f"stderr ended before {text!r}: {''.join(seen)}")
        seen.append(line)
        if text in line:
            return line


def test_ctrl_c_saves_says_how_to_continue_and_resume_sends_the_rest(tmp_path, probes_dir, servers):
    held = {"on": True, "n": 0}

    def first_only(req):
        if req.method != "POST":
            return None
        held["n"] += 1
        return Fault.hang() if held["on"] and held["n"] > 1 else None

    srv = servers(answer_fn=lambda b: "I am Claude, made by Anthropic.", model=SERVED, fault_fn=first_only)
    db = tmp_path / "runs.db"
    cmd = [sys.executable, "-c", CLI_BOOT, "probe", srv.base_url, "--model", "no-such-model", "--db", str(db),
           "--probes", str(probes_dir), "--timeout", "120"]
    q: queue.Queue = queue.Queue()
    seen: list[str] = []
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, env=cli_env(), preexec_fn=_default_sigint) as proc:
        reader = threading.Thread(target=_lines, args=(proc.stderr, q), daemon=True)
        reader.start()
        try:
            # item 7: the mismatch is said as soon as the first reply came, while the others are held
            warn = _wait_for(q, "the first reply came from", seen)
            assert warn.startswith("provenance: warning:") and f"'{SERVED}'" in warn and "'no-such-model'" in warn
            assert proc.poll() is None
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        reader.join(timeout=10)
    while (line := q.get_nowait() if not q.empty() else None) is not None:
        seen.append(line)
    err = "".join(seen)
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    con = sqlite3.connect(db)
    run_id = con.execute("SELECT id FROM runs").fetchone()[0]
    con.close()
    assert last == (f"provenance: interrupted: 1 of {N_SCAN_PROBES} probes answered and saved in run {run_id}; "
                    f"continue with: provenance probe --resume {run_id}"), err
    assert "CancelledError" not in err and "Traceback" not in err

    # stored as interrupted, with what it lacks; runs show says how to go on
    listing = json.loads(keyword_cli(["runs", "list", "--json", "--db", db]).stdout)[0]
    assert (listing["status"], listing["error"]) == ("interrupted", None)
    assert listing["incomplete"] == f"interrupted: 1 of {N_SCAN_PROBES} probes answered"
    show = keyword_cli(["runs", "show", run_id, "--db", db], env={"COLUMNS": "200"}).stdout
    assert "status interrupted" in show and f"provenance probe --resume {run_id}" in show

    # classify --run counts the probes never sent (not "1 ok, 0 failed, 0 skipped")
    c = keyword_cli(["classify", "--run", run_id, "--db", db, "--probes", probes_dir, "--json"])
    assert c.returncode == 0, c.stderr
    rep = json.loads(c.stdout)
    assert rep["summary"]["total"] == N_SCAN_PROBES and rep["summary"]["ok"] == 1
    assert rep["summary"]["ok"] + rep["summary"]["failed"] + rep["summary"]["skipped"] == N_SCAN_PROBES
    assert any(f"of {N_SCAN_PROBES} probes not run" in n and "--resume" in n
               for n in rep["attribution"]["reliability"]), rep["attribution"]["reliability"]

    # probe --resume RUN: the run's URL and model, only the probes it lacks are sent, the same run id
    held["on"] = False
    before = srv.request_count
    r = keyword_cli(["probe", "--resume", run_id[:10], "--db", db, "--probes", probes_dir, "--json"])
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["run"]["id"] == run_id and rep["summary"] == {"total": N_SCAN_PROBES, "ok": N_SCAN_PROBES,
                                                             "failed": 0, "skipped": 0}
    assert rep["target"]["model"] == "no-such-model"
    sent = [q for q in srv.requests[before:] if q.method == "POST"]
    assert len(sent) == N_SCAN_PROBES - 1
    assert json.loads(keyword_cli(["runs", "list", "--json", "--db", db]).stdout)[0]["status"] == "complete"
    # a complete run is not resumed; a wrong id is one line
    again = keyword_cli(["probe", "--resume", run_id, "--db", db, "--probes", probes_dir])
    assert again.returncode == 2 and "is complete: nothing to resume" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_a_probe_cut_by_its_deadline_says_how_to_continue(tmp_path, probes_dir, servers):
    """One probe held past --deadline: the run is stored as partial, stderr says how many were
    answered and the command that continues it, and that command sends only the cut probe."""
    held = {"on": True}
    srv = servers(answer_fn=lambda b: "I am Claude, made by Anthropic.",
                  fault_fn=lambda req: Fault.hang() if held["on"] and b"haiku" in req.body else None)
    db = tmp_path / "runs.db"
    args = ["probe", srv.base_url, "--model", "m", "--db", db, "--probes", probes_dir, "--timeout", "120",
            "--retries", "0"]
    r = keyword_cli(args + ["--deadline", "8", "--json"])
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    rid = rep["run"]["id"]
    assert rep["run"]["incomplete"]["answered"] == N_SCAN_PROBES - 1
    warn = [x for x in r.stderr.splitlines() if x.startswith("provenance: warning:")]
    assert warn == [f"provenance: warning: the deadline (8 s) cut the run: answered {N_SCAN_PROBES - 1} of "
                    f"{N_SCAN_PROBES} probes; continue it with: provenance probe --resume {rid}"], r.stderr
    assert json.loads(keyword_cli(["runs", "list", "--json", "--db", db]).stdout)[0]["status"] == "partial"
    held["on"] = False
    before = srv.request_count
    r = keyword_cli(["probe", "--resume", rid, "--db", db, "--probes", probes_dir, "--json"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["summary"]["ok"] == N_SCAN_PROBES and srv.request_count - before == 1


def test_progress_line_has_elapsed_time_and_eta():
    from provenance.cli.progress import progress_text
    assert progress_text(0, 212, 0.4) == "probing: 0/212 done, 0:00 elapsed"
    assert progress_text(12, 212, 65.0) == "probing: 12/212 done, 1:05 elapsed, about 18:03 left"
    assert progress_text(50, 212, 10.0, first=48) == "probing: 50/212 done, 0:10 elapsed"   # too few new to tell
    assert progress_text(212, 212, 3700.0) == "probing: 212/212 done, 1:01:40 elapsed"
