"""A scan says what it lost (issue 36 items 2, 3 and 9), against real loopback servers: an entrant
the deadline cut is marked in the table, the summary and the JSON and resumed by a re-run; the
tokenizer and stack columns are filled; unusable entrants' causes are printed whole, not in the
creator column, and a scan with nothing usable exits 3 with a line on stderr."""

from __future__ import annotations

import json
import sqlite3

from provenance.testing.fakeserver import Fault

from factory import N_SCAN_PROBES, REPORTS, free_port, keyword_cli, replay_server, run_cli

DEADLINE_S = "8"      # long enough for the answered probes on a busy machine; the hung one waits it out


def claude(body):
    return "I am Claude, an AI assistant made by Anthropic."


def _status(db, run_id):
    c = sqlite3.connect(db)
    try:
        return c.execute("SELECT status, incomplete FROM runs WHERE id = ?", (run_id,)).fetchone()
    finally:
        c.close()


def test_deadline_cut_entrant_is_marked_and_resumed(tmp_path, probes_dir, servers):
    hang = {"on": True}

    def haiku_hangs(req):
        return Fault.hang() if hang["on"] and b"haiku" in req.body else None

    srv = servers(answer_fn=claude, fault_fn=haiku_hangs)
    ef = tmp_path / "entrants.json"
    ef.write_text(json.dumps([{"name": "cut", "base_url": srv.base_url, "model": "m"}]))
    db, out = tmp_path / "runs.db", tmp_path / "out.jsonl"
    args = ["scan", ef, "--db", db, "--probes", probes_dir, "--out", out, "--deadline", DEADLINE_S,
            "--timeout", "60", "--retries", "0"]
    r = keyword_cli(args, env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    assert f"answered {N_SCAN_PROBES - 1} of {N_SCAN_PROBES}, deadline" in r.stdout          # the table
    assert "1 probed (1 cut by the deadline: the same command resumes it)" in r.stdout       # the summary
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    report, summary = lines[0], lines[-1]
    assert report["run"]["incomplete"] == {"why": "deadline", "answered": N_SCAN_PROBES - 1,
                                           "of": N_SCAN_PROBES, "cut": 1}
    assert summary["cut_by_deadline"] == 1 and summary["complete"] == 1
    run_id = report["run"]["id"]
    assert _status(db, run_id) == ("partial", f"deadline: answered {N_SCAN_PROBES - 1} of {N_SCAN_PROBES}")
    listing = json.loads(keyword_cli(["runs", "list", "--json", "--db", db]).stdout)[0]
    assert listing["status"] == "partial"

    # the same scan again: the cut entrant is continued (only its missing probe is sent), not reused
    hang["on"] = False
    before = srv.request_count
    r2 = keyword_cli(args + ["--json"])
    assert r2.returncode == 0, r2.stderr
    lines = [json.loads(x) for x in r2.stdout.splitlines()]
    report, summary = lines[0], lines[-1]
    assert (summary["reused"], summary["complete"], summary["cut_by_deadline"]) == (0, 1, 0)
    assert report["run"]["id"] == run_id and "incomplete" not in report["run"]
    assert report["summary"]["ok"] == N_SCAN_PROBES
    assert srv.request_count - before == 1
    assert _status(db, run_id) == ("complete", None)
    # and a third time it is complete: reused
    r3 = keyword_cli(args + ["--json"])
    assert json.loads(r3.stdout.splitlines()[-1])["reused"] == 1 and srv.request_count - before == 1


def test_scan_table_shows_tokenizer_and_stack(tmp_path):
    """The recorded Qwen run replayed by a loopback server that says it is llama.cpp, scanned with
    the shipped probes and model: the table's tokenizer and stack columns show what the report's
    attribution holds under ``summary`` (they were always '-')."""
    with replay_server(REPORTS / "qwen2.5-coder-0.5b.json", "qwen2", headers={"Server": "llama.cpp"}) as srv:
        ef = tmp_path / "e.json"
        ef.write_text(json.dumps([{"name": "qwen", "base_url": srv.base_url, "model": "qwen2.5-coder-0.5b"}]))
        r = run_cli(["scan", str(ef), "--out", "out.jsonl", "--probe-concurrency", "64"], tmp_path,
                    env={"COLUMNS": "200"}, timeout=300)
    assert r.returncode == 0, r.stderr
    a = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])["attribution"]
    tok, stack = a["tokenizer"]["summary"]["family"], a["stack"]["summary"]["stack"]
    assert tok == "qwen2" and stack
    row = next(line for line in r.stdout.splitlines() if line.startswith("│ qwen"))
    cells = [c.strip() for c in row.split("│")[1:-1]]
    assert (cells[5], cells[6]) == (tok, stack), row


def test_unusable_entrants_in_a_pipe_at_80_columns(tmp_path, probes_dir):
    """Nothing answers: each cause is printed whole below the table (not cut to '... [N more
    chars]', not in the creator column), and exit 3 comes with a line on stderr."""
    ents = [{"name": f"dead-{i}", "base_url": f"http://127.0.0.1:{free_port()}/v1", "model": "m"} for i in range(2)]
    ef = tmp_path / "entrants.json"
    ef.write_text(json.dumps(ents))
    r = keyword_cli(["scan", ef, "--db", tmp_path / "db", "--probes", probes_dir, "--retries", "0"],
                    env={"COLUMNS": "80"})
    assert r.returncode == 3
    assert "more chars]" not in r.stdout
    rows = [line for line in r.stdout.splitlines() if line.startswith("│ dead-")]
    assert rows and all(line.split("│")[2].strip() == "-" for line in rows), r.stdout     # creator column
    for e in ents:
        why = next(line for line in r.stdout.splitlines() if line.strip().startswith(f"unusable {e['name']}:"))
        assert "could not connect" in why or "connection" in why, why
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("provenance: error:") and "2 entrants" in err[0], r.stderr
