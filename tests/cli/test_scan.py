"""`provenance scan` / `runs` / `report export` / `classify` against real loopback servers."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
import textwrap

from provenance.testing.fakeserver import FakeLLMServer, Fault

from factory import N_SCAN_PROBES, keyword_cli

FAKE_KEY = "sk-FAKEKEY-scan-test-7f3a9c1e5b"


def rows(db, sql, *args):
    c = sqlite3.connect(db)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def probes_sent(srv) -> int:
    """Chat requests only (each run also asks GET /props, /info, /api/version: endpoints/capacity.py)."""
    return sum(1 for q in srv.requests if q.method == "POST")


def claude(body):
    return "I am Claude, an AI assistant made by Anthropic."


def test_scan_mixed_entrants_and_resume(tmp_path, probes_dir, servers):
    good = servers(answer_fn=claude)
    slow = servers(answer_fn=lambda b: "I'm Qwen, created by Alibaba Cloud.", latency=0.2)
    failing = servers(fault_fn=lambda r: Fault.status(503, retry_after="0"))
    posts = itertools.count()
    limited = servers(answer_fn=lambda b: "I am Gemini, a model by Google.",      # its first 2 probes: 429
                      fault_fn=lambda r: (Fault.status(429, retry_after="0.05")
                                          if r.method == "POST" and next(posts) < 2 else None))
    ents = [
        {"name": "good", "base_url": good.base_url, "model": "m"},
        {"name": "good-2", "base_url": good.url_for("two"), "model": "m"},
        {"name": "slow", "base_url": slow.base_url, "model": "m"},
        {"name": "failing", "base_url": failing.base_url, "model": "m"},
        {"name": "limited", "base_url": limited.base_url, "model": "m"},
    ]
    ef = tmp_path / "entrants.json"
    ef.write_text(json.dumps(ents))
    db, out = tmp_path / "runs.db", tmp_path / "out.jsonl"
    args = ["scan", ef, "--db", db, "--probes", probes_dir, "--out", out, "--retries", "2", "--per-host", "1"]
    r = keyword_cli(args)
    assert r.returncode == 0, r.stderr
    assert "Scan results" in r.stdout and "Anthropic" in r.stdout
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 6 and lines[-1]["type"] == "summary"
    s = lines[-1]
    assert (s["entrants"], s["complete"], s["unusable"], s["error"]) == (5, 4, 1, 0)
    by_name = {x["target"]["name"]: x for x in lines[:-1]}
    assert by_name["limited"]["attribution"]["creator"] == "Google"
    # refusals are counted as they are: the limited entrant's two 429s, the failing one's 503s
    # (3 probes, each tried 3 times: --retries 2)
    assert s["rate_limited"] == {"entrants": 2, "refused": {"429": 2, "503": 9}, "paused_s": s["rate_limited"]["paused_s"]}
    assert "rate limited: 2 entrants, 11 requests refused (HTTP 429: 2, HTTP 503: 9)" in " ".join(r.stdout.split())
    assert by_name["failing"]["attribution"]["status"] == "failed"
    assert by_name["slow"]["attribution"]["creator"] == "Alibaba"
    got = rows(db, "SELECT r.entrant, r.status, COUNT(p.probe_id) FROM runs r JOIN probe_results p ON p.run_id = r.id "
                   "GROUP BY r.id")
    assert sorted(got) == sorted([("good", "complete", 3), ("good-2", "complete", 3), ("slow", "complete", 3),
                                  ("failing", "failed", 3), ("limited", "complete", 3)])
    before = {s: probes_sent(s) for s in (good, slow, failing, limited)}

    # resume: complete entrants are not probed again; the unusable one is retried
    r2 = keyword_cli(args + ["--json"])
    assert r2.returncode == 0, r2.stderr
    out_lines = [json.loads(x) for x in r2.stdout.splitlines()]          # nothing but JSONL on stdout
    assert out_lines[-1]["reused"] == 4 and out_lines[-1]["unusable"] == 1
    assert out.read_text().splitlines() == r2.stdout.splitlines()
    assert probes_sent(good) == before[good] and probes_sent(slow) == before[slow]
    assert probes_sent(limited) == before[limited]
    assert probes_sent(failing) > before[failing]

    # --no-resume: everything is probed afresh
    r3 = keyword_cli(args + ["--no-resume", "--json"])
    assert r3.returncode == 0
    assert json.loads(r3.stdout.splitlines()[-1])["complete"] == 4
    assert probes_sent(good) == before[good] + 2 * N_SCAN_PROBES
    assert rows(db, "SELECT COUNT(*) FROM runs WHERE entrant = 'good'")[0][0] == 2

    # runs list / show / export / classify
    lst = keyword_cli(["runs", "list", "--db", db, "--json"])
    assert lst.returncode == 0
    runs = json.loads(lst.stdout)
    rid = next(x["id"] for x in runs if x["entrant"] == "slow" and x["status"] == "complete")
    show = keyword_cli(["runs", "show", rid, "--db", db])
    assert show.returncode == 0 and "Alibaba" in show.stdout
    exp = tmp_path / "exported.json"
    r4 = keyword_cli(["report", "export", rid, "--db", db, "-o", exp])
    assert r4.returncode == 0, r4.stderr
    doc = json.loads(exp.read_text())
    assert doc["run"]["id"] == rid and len(doc["probes"]) == N_SCAN_PROBES
    assert keyword_cli(["report", "export", rid, "--db", db]).stdout.strip() == exp.read_text().strip()
    seen = sum(x.request_count for x in (good, slow, failing, limited))
    c1 = keyword_cli(["classify", exp, "--probes", probes_dir, "--json"])
    c2 = keyword_cli(["classify", "--run", rid, "--db", db, "--probes", probes_dir, "--json"])
    assert c1.returncode == 0 and c2.returncode == 0, c1.stderr + c2.stderr
    assert json.loads(c1.stdout)["attribution"] == json.loads(c2.stdout)["attribution"] == doc["attribution"]
    assert sum(x.request_count for x in (good, slow, failing, limited)) == seen     # no network
    bad = keyword_cli(["runs", "show", "ffffffffffffffff", "--db", db])
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no run with id" in bad.stderr


def test_all_unusable_exits_3(tmp_path, probes_dir):
    with FakeLLMServer(fault_fn=lambda r: Fault.status(503)) as srv:
        ef = tmp_path / "e.yaml"
        ef.write_text(f"- {{name: a, base_url: '{srv.base_url}', model: m}}\n"
                      f"- {{name: b, base_url: '{srv.url_for('b')}', model: m}}\n")
        r = keyword_cli(["scan", ef, "--db", tmp_path / "r.db", "--probes", probes_dir, "--retries", "0"])
        assert r.returncode == 3, r.stderr


def test_config_errors_before_any_request(tmp_path, probes_dir):
    with FakeLLMServer(answer_fn=claude) as srv:
        ef = tmp_path / "e.csv"
        ef.write_text(f"name,base_url,model\nok,{srv.base_url},m\nbad,ftp://nowhere,m\n")
        r = keyword_cli(["scan", ef, "--db", tmp_path / "r.db", "--probes", probes_dir])
        assert r.returncode == 2
        assert r.stderr.count("\n") == 1 and "e.csv:3" in r.stderr and "Traceback" not in r.stderr
        assert srv.request_count == 0
        r = keyword_cli(["scan", "--db", tmp_path / "r.db", "--probes", probes_dir])
        assert r.returncode == 2 and "exactly one" in r.stderr


def test_bad_store_one_line_errors(tmp_path, probes_dir):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database, just bytes " * 200)
    r = keyword_cli(["runs", "list", "--db", bad])
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "corrupted" in r.stderr
    ef = tmp_path / "e.json"
    ef.write_text(json.dumps([{"name": "a", "base_url": "http://127.0.0.1:9/v1", "model": "m"}]))
    r = keyword_cli(["scan", ef, "--db", bad, "--probes", probes_dir])
    assert r.returncode == 2 and "corrupted" in r.stderr and "Traceback" not in r.stderr

    locked = tmp_path / "locked.db"
    keyword_cli(["runs", "list", "--db", locked])
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sqlite3, sys, time
        c = sqlite3.connect(sys.argv[1], isolation_level=None)
        c.execute("PRAGMA locking_mode = EXCLUSIVE"); c.execute("BEGIN EXCLUSIVE")
        c.execute("CREATE TABLE IF NOT EXISTS hold(x)")
        print("locked", flush=True); time.sleep(60)
    """), str(locked)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        r = keyword_cli(["runs", "list", "--db", locked], env={"PROVENANCE_DB_TIMEOUT": "0.3"})
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "locked by another process" in r.stderr
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def test_api_key_never_written(tmp_path, probes_dir):
    """The key reaches the server, and appears in no DB file, output or export -- even when echoed back."""
    def echo(body, request):
        return f"I am Claude by Anthropic. Your header was {request.headers.get('authorization')}"

    with FakeLLMServer(answer_fn=echo, api_key=FAKE_KEY) as srv, FakeLLMServer(answer_fn=echo) as open_srv:
        ef = tmp_path / "e.yaml"
        ef.write_text(f"- {{name: keyed, base_url: '{srv.base_url}', model: m, api_key_env: SCAN_TEST_KEY}}\n"
                      f"- {{name: keyless, base_url: '{open_srv.base_url}', model: m}}\n")
        db, out = tmp_path / "r.db", tmp_path / "o.jsonl"
        env = {"SCAN_TEST_KEY": FAKE_KEY, "OPENAI_API_KEY": "sk-OPERATOR-own-key-000"}
        r = keyword_cli(["scan", ef, "--db", db, "--probes", probes_dir, "--out", out, "--json"], env=env)
        assert r.returncode == 0, r.stderr
        assert srv.requests and all(FAKE_KEY in q.headers.get("authorization", "") for q in srv.requests)
        # an entrant that names no key variable is not handed the operator's OPENAI_API_KEY
        assert open_srv.requests and not any("authorization" in q.headers for q in open_srv.requests)
        assert json.loads(r.stdout.splitlines()[0])["attribution"]["creator"] == "Anthropic"
        rid = json.loads(r.stdout.splitlines()[0])["run"]["id"]
        texts = [r.stdout, r.stderr]
        for args in (["runs", "list", "--db", db, "--json"], ["runs", "show", rid, "--db", db],
                     ["report", "export", rid, "--db", db],
                     ["classify", "--run", rid, "--db", db, "--probes", probes_dir, "--json"]):
            x = keyword_cli(args, env=env)
            assert x.returncode == 0, x.stderr
            texts += [x.stdout, x.stderr]
        blobs = [p.read_bytes() for p in tmp_path.iterdir() if p.is_file()]
        assert any(b"Your header was" in b for b in blobs + [t.encode() for t in texts])
        for b in blobs + [t.encode() for t in texts]:
            assert FAKE_KEY.encode() not in b
            assert b"FAKEKEY" not in b and b"OPERATOR-own" not in b


def test_models_from_listing(tmp_path, probes_dir):
    with FakeLLMServer(answer_fn=claude, models=["alpha-1", "alpha-2", "beta"], api_key=FAKE_KEY) as srv:
        env = {"LIST_KEY": FAKE_KEY}
        r = keyword_cli(["scan", "--models-from", srv.base_url, "--match", "alpha-*", "--api-key-env", "LIST_KEY",
                 "--db", tmp_path / "r.db", "--probes", probes_dir, "--json"], env=env)
        assert r.returncode == 0, r.stderr
        recs = [json.loads(x) for x in r.stdout.splitlines()]
        assert sorted(x["target"]["model"] for x in recs[:-1]) == ["alpha-1", "alpha-2"]
        models_sent = {q.json["model"] for q in srv.requests if q.json}
        assert models_sent == {"alpha-1", "alpha-2"}
        r = keyword_cli(["scan", "--models-from", srv.base_url, "--match", "zzz*", "--api-key-env", "LIST_KEY",
                 "--db", tmp_path / "r.db", "--probes", probes_dir], env=env)
        assert r.returncode == 2 and "matching" in r.stderr
    port = srv.port                       # the server is stopped now: nothing listens there
    r = keyword_cli(["scan", "--models-from", f"http://127.0.0.1:{port}/v1", "--retries", "0",
             "--db", tmp_path / "r.db", "--probes", probes_dir])
    assert r.returncode == 3 and r.stderr.count("\n") == 1 and "listing models failed" in r.stderr


def test_shipped_probeset_and_model(tmp_path):
    """The real combination: the shipped probe set and whatever classifier ships, end to end."""
    from provenance.probes import load_probeset
    n = len(load_probeset().probes)
    with FakeLLMServer(answer_fn=claude) as srv:
        ef = tmp_path / "e.json"
        ef.write_text(json.dumps([{"name": "a", "base_url": srv.base_url, "model": "m"}]))
        db = tmp_path / "r.db"
        r = subprocess.run([sys.executable, "-c", "from provenance.cli import main; main()", "scan", str(ef),
                            "--db", str(db), "--json"], capture_output=True, text=True, timeout=120,
                           env={k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")})
        assert r.returncode == 0, r.stderr
        rep = json.loads(r.stdout.splitlines()[0])
        assert len(rep["probes"]) == n
        assert rows(db, "SELECT COUNT(*) FROM probe_results")[0][0] == n
        assert rep["attribution"]["status"] in ("match", "ambiguous", "unknown")


def test_internal_error_isolated_and_resumed_without_new_requests(tmp_path, probes_dir):
    """An entrant whose pipeline breaks does not stop the others, and its stored probes are reused."""
    import asyncio

    from provenance.classifier.keyword import KeywordClassifier
    from provenance.probing.entrants import load_entrants
    from provenance.probes import load_probeset
    from provenance.run.scan import scan_entrants
    from provenance.settings import RunSettings
    from provenance.probing.store import RunStore

    class Flaky(KeywordClassifier):
        def __init__(self, fail_for):
            super().__init__()
            self.fail_for = fail_for

        def classify(self, transcript):
            if transcript.target.get("name") in self.fail_for:
                raise ValueError("classifier exploded")
            return super().classify(transcript)

    with FakeLLMServer(answer_fn=claude) as srv:
        ef = tmp_path / "e.json"
        ef.write_text(json.dumps([{"name": n, "base_url": srv.url_for(n), "model": "m"} for n in ("x", "y")]))
        ents, ps = load_entrants(ef), load_probeset(probes_dir)
        store = RunStore.open(tmp_path / "r.db")
        try:
            kw = dict(store=store, probeset=ps, settings=RunSettings(retries=0), concurrency=2, per_host=2)
            first = asyncio.run(scan_entrants(ents, classifier=Flaky({"x"}), **kw))
            assert [o.state for o in first] == ["error", "complete"]
            assert "classifier exploded" in first[0].error
            assert store.get_run(first[0].run_id)["probes"]["ok"] == N_SCAN_PROBES
            sent = srv.request_count
            second = asyncio.run(scan_entrants(ents, classifier=Flaky(set()), **kw))
            assert [o.state for o in second] == ["complete", "reused"]
            assert second[0].run_id == first[0].run_id and second[0].probes_sent == 0
            assert srv.request_count == sent
            assert store.get_run(first[0].run_id)["status"] == "complete"
        finally:
            store.close()


def test_global_and_per_host_limits(tmp_path, probes_dir, monkeypatch):
    """In-flight entrants never exceed --concurrency overall or --per-host on one host:port."""
    import asyncio

    import provenance.run.target as one_target
    from provenance.classifier.keyword import KeywordClassifier
    from provenance.probing.entrants import parse_entrants
    from provenance.probes import load_probeset
    from provenance.probing.scan import host_key
    from provenance.run.scan import scan_entrants
    from provenance.settings import RunSettings
    from provenance.probing.store import RunStore

    now = {"all": 0, "max_all": 0}
    per: dict[str, int] = {}
    max_per: dict[str, int] = {}

    async def fake_probe_async(target, *, run_id, **kw):
        h = host_key(target.base_url)
        now["all"] += 1
        per[h] = per.get(h, 0) + 1
        now["max_all"] = max(now["max_all"], now["all"])
        max_per[h] = max(max_per.get(h, 0), per[h])
        try:
            for _ in range(3):
                await asyncio.sleep(0)
            if target.name.endswith("7"):
                raise RuntimeError("entrant 7 breaks")
            return {"attribution": {"status": "unknown", "creator": "unknown", "confidence": 0.1},
                    "run": {"id": run_id}, "probes": []}
        finally:
            now["all"] -= 1
            per[h] -= 1

    monkeypatch.setattr(one_target, "probe_async", fake_probe_async)
    hosts = ["http://127.0.0.1:1001/v1", "http://127.0.0.1:1002/v1", "http://localhost:1001/v1"]
    text = json.dumps([{"name": f"e{i}", "base_url": hosts[i % 3] + f"/x{i}", "model": "m"} for i in range(30)])
    ents = parse_entrants(text, "e.json")
    with RunStore.open(tmp_path / "r.db") as store:
        outs = asyncio.run(scan_entrants(ents, store=store, probeset=load_probeset(probes_dir),
                                         classifier=KeywordClassifier(), settings=RunSettings(),
                                         concurrency=4, per_host=2))
    assert now["max_all"] <= 4 and all(v <= 2 for v in max_per.values())
    assert now["max_all"] == 4 and max(max_per.values()) == 2          # the limits are reached, not just respected
    assert [o.state for o in outs].count("error") == 3                  # e7, e17, e27
    assert [o.state for o in outs].count("complete") == 27
