"""The SQLite run store: round trips, resume lookup, migrations, damage and locks, secrets."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from provenance.errors import ConfigError, StoreError
from provenance.settings import make_target
from provenance.probing.store import SCHEMA_VERSION, RunStore, default_db_path
from provenance.transcript import MAX_TEXT_CHARS, ProbeResult

PS = {"name": "tiny", "version": "1", "hash": "sha256:abc"}


def _report(run_id, results, status="match"):
    return {
        "schema_version": 1, "tool": {"name": "provenance", "version": "x"},
        "run": {"id": run_id, "started_at": "t0", "finished_at": "t1", "stopped_because": None},
        "target": {"base_url": "http://h/v1", "model": "m"}, "probeset": PS, "classifier": {"name": "k"},
        "attribution": {"creator": "Acme", "confidence": 0.9, "status": status,
                        "tokenizer": {"family": "tok"}, "stack": {"stack": "vllm"}},
        "summary": {}, "cost": {}, "probes": [r.to_dict() for r in results],
    }


@pytest.fixture
def store(tmp_path):
    s = RunStore.open(tmp_path / "runs.sqlite3")
    yield s
    s.close()


def test_round_trip_report_and_transcript(store):
    t = make_target("http://127.0.0.1:9/v1", "m", name="e1")
    rid = store.start_run(t, PS, entrant="e1")
    rs = [ProbeResult("b", "identity", text="hello B", usage={"prompt_tokens": 3}),
          ProbeResult("a", "style", status="failed", error="http 500")]
    store.record_result(rid, rs[0])
    store.record_result(rid, rs[0])            # same probe twice: still one row
    assert store.get_run(rid)["status"] == "running"
    extra = ProbeResult("c", "api", status="failed", error="deadline")   # only in the final report
    report = _report(rid, rs + [extra])
    store.finish_run(rid, report)
    assert store.load_report(rid) == report
    assert store.load_report(rid[:8]) == report            # unique prefix
    tr = store.load_transcript(rid)
    assert [r.probe_id for r in tr.results] == ["b", "a", "c"]
    assert tr.probeset["hash"] == PS["hash"]
    row = store.list_runs()[0]
    assert row["status"] == "complete" and row["creator"] == "Acme" and row["probes"]["total"] == 3
    assert row["tokenizer"] == "tok" and row["stack"] == "vllm"
    n = store._conn.execute("SELECT COUNT(*) FROM probe_results WHERE run_id = ?", (rid,)).fetchone()[0]
    assert n == 3


def test_unknown_and_unfinished_ids(store):
    with pytest.raises(ConfigError, match="no run with id"):
        store.load_report("deadbeef0000")
    with pytest.raises(ConfigError, match="no run with id"):
        store.load_transcript("nope")
    rid = store.start_run({"base_url": "http://h/v1", "model": "m"}, PS)
    with pytest.raises(ConfigError, match="has no report: it is unfinished"):
        store.load_report(rid)


def test_find_resumable(store):
    t = make_target("http://127.0.0.1:9/v1", "m", name="e1")
    other = make_target("http://127.0.0.1:9/v1", "m", name="e2")
    assert store.find_resumable(t, PS["hash"]) is None
    r1 = store.start_run(t, PS)
    assert store.find_resumable(t, PS["hash"])["id"] == r1
    assert store.find_resumable(t, "sha256:other") is None
    assert store.find_resumable(other, PS["hash"]) is None
    store.finish_run(r1, _report(r1, [ProbeResult("a", "identity", text="x")]))
    assert store.find_resumable(t, PS["hash"])["status"] == "complete"
    r2 = store.start_run(t, PS)
    store.finish_run(r2, _report(r2, [], status="failed"))
    assert store.get_run(r2)["status"] == "failed"
    assert store.find_resumable(t, PS["hash"]) is None          # latest failed: probe afresh
    r3 = store.start_run(t, PS)
    store.fail_run(r3, "boom\nwith a newline")
    assert "\n" not in store.get_run(r3)["error"]
    assert store.find_resumable(t, PS["hash"])["id"] == r3      # broken by an internal error: continue it


def test_caps_and_secret_scrub(store, monkeypatch):
    monkeypatch.setenv("STORE_TEST_KEY", "sk-STORE-SECRET-424242")
    t = make_target("http://127.0.0.1:9/v1", "m", api_key_env="STORE_TEST_KEY")
    rid = store.start_run(t, PS)
    store.record_result(rid, ProbeResult("a", "identity", text="y" * (MAX_TEXT_CHARS + 500),
                                         chunks=["z"] * 10_000, error_body={"e": "q" * 100_000}))
    store.record_result(rid, ProbeResult("b", "identity", text="echo sk-STORE-SECRET-424242 back",
                                         request={"json": {"k": "sk-STORE-SECRET-424242"}}))
    rs = {r.probe_id: r for r in store.load_results(rid)}
    assert len(rs["a"].text) == MAX_TEXT_CHARS and rs["a"].truncated
    assert len(rs["a"].chunks) <= 4096
    assert "sk-STORE" not in rs["b"].text and "[redacted]" in rs["b"].text
    store.close()
    blob = b"".join(p.read_bytes() for p in store.path.parent.iterdir() if p.is_file())
    assert b"sk-STORE-SECRET" not in blob


def test_default_path_env(tmp_path, monkeypatch):
    monkeypatch.setenv("PROVENANCE_DB", str(tmp_path / "x.db"))
    assert default_db_path() == tmp_path / "x.db"
    monkeypatch.delenv("PROVENANCE_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    if sys.platform.startswith("linux"):
        assert default_db_path() == tmp_path / "data" / "provenance" / "runs.sqlite3"
    s = RunStore.open(None)              # creates the directory
    assert s.path.is_file()
    s.close()


def test_newer_schema_refused(tmp_path):
    p = tmp_path / "r.db"
    RunStore.open(p).close()
    c = sqlite3.connect(p)
    c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    c.commit()
    c.close()
    with pytest.raises(StoreError, match="newer provenance"):
        RunStore.open(p)


def test_migrations_recorded(tmp_path):
    s = RunStore.open(tmp_path / "r.db")
    rows = s._conn.execute("SELECT version FROM schema_migrations").fetchall()
    assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
    assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s.close()
    RunStore.open(tmp_path / "r.db").close()     # re-open: no second migration


def test_schema_1_store_is_migrated_with_its_runs_and_results(tmp_path):
    """A store written before the partial and interrupted statuses: its runs and probe results
    survive the table rebuild (foreign keys off, so nothing cascades), and the new statuses work."""
    from provenance.probing.store import MIGRATIONS
    p = tmp_path / "old.db"
    c = sqlite3.connect(p, isolation_level=None)
    for stmt in MIGRATIONS[0]:
        c.execute(stmt)
    c.execute("INSERT INTO schema_migrations VALUES (1, 't')")
    c.execute("PRAGMA user_version = 1")
    c.execute("INSERT INTO scans(id, source, started_at) VALUES ('s1', 'f', 't')")
    c.execute("INSERT INTO runs(id, scan_id, entrant, target_key, target_json, probeset_hash, status, started_at, "
              "error) VALUES ('r1', 's1', 'e', 'k', '{}', 'h', 'failed', 't', 'CancelledError: ')")
    c.execute("INSERT INTO probe_results(run_id, probe_id, family, status, result_json, recorded_at) "
              "VALUES ('r1', 'a', 'identity', 'ok', '{\"probe_id\": \"a\", \"family\": \"identity\"}', 't')")
    c.close()
    with RunStore.open(p) as s:
        assert s._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert s._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        row = s.get_run("r1")
        assert (row["status"], row["error"], row["scan_id"], row["probes"]["total"]) == ("failed", "CancelledError: ",
                                                                                          "s1", 1)
        s.interrupt_run("r1", "not running: unchanged")
        assert s.get_run("r1")["status"] == "failed"
        t = make_target("http://127.0.0.1:9/v1", "m")
        rid = s.start_run(t, PS)
        s.interrupt_run(rid, "interrupted: 1 of 3 answered")
        got = s.get_run(rid)
        assert (got["status"], got["incomplete"]) == ("interrupted", "interrupted: 1 of 3 answered")
        assert s.find_resumable(t, PS["hash"])["id"] == rid
        s.reopen_run(rid)
        assert s.get_run(rid)["status"] == "running" and s.get_run(rid)["incomplete"] is None
        rep = _report(rid, [ProbeResult("a", "identity", text="x"), ProbeResult("b", "style", status="failed",
                                                                                 error="deadline")])
        rep["run"]["incomplete"] = {"why": "deadline", "answered": 1, "of": 2, "cut": 1}
        s.finish_run(rid, rep)
        got = s.get_run(rid)
        assert (got["status"], got["incomplete"]) == ("partial", "deadline: answered 1 of 2")
        assert s.find_resumable(t, PS["hash"])["id"] == rid        # partial: continued, not reused


@pytest.mark.parametrize("damage", ["garbage", "truncated", "directory"])
def test_corrupted_db_one_line_error(tmp_path, damage):
    p = tmp_path / "r.db"
    if damage == "garbage":
        p.write_bytes(b"this is not sqlite at all" * 100)
    elif damage == "truncated":
        s = RunStore.open(p)
        rid = s.start_run({"base_url": "http://h/v1", "model": "m"}, PS)
        for i in range(200):
            s.record_result(rid, ProbeResult(f"p{i}", "style", text="x" * 3000))
        s._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        s.close()
        data = p.read_bytes()
        p.write_bytes(data[:100] + b"\x00" * 5000 + data[5100:len(data) // 2])
    else:
        p.mkdir()
    with pytest.raises(StoreError) as ei:
        s = RunStore.open(p)
        s.list_runs()
        s.load_results(s.list_runs()[0]["id"])
        s.integrity_check()
    assert "\n" not in str(ei.value)
    assert str(p) in str(ei.value)


LOCKER = textwrap.dedent("""
    import sqlite3, sys, time
    c = sqlite3.connect(sys.argv[1], isolation_level=None)
    c.execute("PRAGMA locking_mode = EXCLUSIVE")
    c.execute("BEGIN EXCLUSIVE")
    c.execute("CREATE TABLE IF NOT EXISTS hold(x)")
    print("locked", flush=True)
    time.sleep(60)
""")


def test_locked_db_one_line_error(tmp_path):
    p = tmp_path / "r.db"
    RunStore.open(p).close()
    proc = subprocess.Popen([sys.executable, "-c", LOCKER, str(p)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError) as ei:
            s = RunStore.open(p, timeout=0.2)
            s.list_runs()
        assert "locked by another process" in str(ei.value) and "\n" not in str(ei.value)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    s = RunStore.open(p, timeout=0.2)     # the lock died with its process
    assert s.list_runs() == []
    s.close()


WRITER = textwrap.dedent("""
    import sys
    from provenance.probing.store import RunStore
    from provenance.transcript import ProbeResult
    s = RunStore.open(sys.argv[1])
    i = 0
    while True:
        rid = s.start_run({"base_url": "http://h/v1", "model": "m", "name": f"e{i}"},
                          {"name": "t", "version": "1", "hash": "sha256:x"})
        for j in range(50):
            s.record_result(rid, ProbeResult(f"p{j}", "style", text=("w%d " % j) * 2000))
            if i == 0 and j == 0:
                print("go", flush=True)
        s.finish_run(rid, {"attribution": {"creator": "c", "status": "match", "confidence": 0.5},
                           "probes": []})
        i += 1
""")


@pytest.mark.parametrize("min_rows", [0, 7, 120])
def test_store_survives_sigkill(tmp_path, min_rows):
    p = tmp_path / "r.db"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(p)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "go"
        reader = RunStore.open(p)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            n = reader._conn.execute("SELECT COUNT(*) FROM probe_results").fetchone()[0]
            if n >= min_rows:
                break
            time.sleep(0.005)
        reader.close()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    s = RunStore.open(p)
    assert s.integrity_check() == "ok"
    rows = s._conn.execute("SELECT run_id, probe_id, result_json FROM probe_results").fetchall()
    assert len(rows) >= min_rows
    assert len({(r[0], r[1]) for r in rows}) == len(rows)
    for _, pid, blob in rows:
        assert json.loads(blob)["probe_id"] == pid
    for run in s.list_runs():
        if run["status"] == "complete":
            assert run["probes"]["total"] == 50
    s.close()
