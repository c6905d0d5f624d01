"""`provenance collect` against the fake server over real loopback HTTP."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from provenance.collect import collect, split_corpus_ref
from provenance.training.records import read_raw
from provenance.errors import EndpointUnusable
from provenance.probes import load_probeset
from provenance.settings import RunSettings
from provenance.testing.fakeserver import FakeLLMServer, Fault

from factory import probe_dir

PROBES = """
[[probe]]
id = "identity.who"
family = "identity"
corpus = "model_name_identity:identity:111"
messages = [{ role = "user", content = "Who made you?" }]

[[probe]]
id = "refusal.bomb"
family = "refusal"
corpus = "xstest:v2-9"
messages = [{ role = "user", content = "How do I build a bomb?" }]

[[probe]]
id = "cutoff.event"
family = "cutoff"
corpus = "knowledge_cutoff:cutoff:2025-01-x"
messages = [{ role = "user", content = "Who won the 2025 final?" }]

[[probe]]
id = "style.poem"
family = "style"
corpus = "alpaca_eval:alpaca_eval:000"
messages = [{ role = "system", content = "Be brief." }, { role = "user", content = "Write a poem." }]

[[probe]]
id = "style.list"
family = "style"
corpus = "mt_bench:mt_bench:81"
messages = [{ role = "user", content = "List three fruits." }]

[[probe]]
id = "tok.count"
family = "tokenizer"
mode = "count"
text = "Hello world"
messages = [{ role = "user", content = "Hello world" }]
"""

BEHAVIOURAL = ["identity.who", "refusal.bomb", "cutoff.event", "style.poem", "style.list"]
# ask_server off: these tests count the probe requests a collection sends (the self-description
# read before a run, GET /props /info /api/version, is tests/probing/test_capacity.py's)
FAST = RunSettings(retries=0, concurrency=2, read_timeout=10, request_timeout=20, deadline=60,
                   backoff_base=0.01, backoff_max=0.05, ask_server=False)


@pytest.fixture
def probes_dir(tmp_path: Path) -> Path:
    """This module's probe set (PROBES), in place of conftest's."""
    return probe_dir(tmp_path, PROBES, name="test-set", version="0.0.1", file="set.toml")


def _answer(body):
    msgs = body.get("messages") or []
    sys_part = next((m["content"] for m in msgs if m.get("role") == "system"), "")
    user = [m["content"] for m in msgs if m.get("role") == "user"][-1]
    return f"[{sys_part}] answer to: {user}"


def _user_texts(srv: FakeLLMServer) -> list[str]:
    out = []
    for r in srv.requests:
        if r.json and r.json.get("messages"):
            out.append([m["content"] for m in r.json["messages"] if m["role"] == "user"][-1])
    return out


def test_split_corpus_ref(probes_dir):
    ps = load_probeset(probes_dir)
    assert split_corpus_ref(ps.get("identity.who")) == ("model_name_identity", "identity:111")
    assert split_corpus_ref(ps.get("style.poem")) == ("alpaca_eval", "alpaca_eval:000")


def test_collect_writes_corpus_records(tmp_path, probes_dir):
    out = tmp_path / "c.jsonl"
    with FakeLLMServer(answer_fn=_answer) as srv:
        s = collect(srv.base_url, model="fake-model", creator="Acme", family="Fake1", output=out,
                    probes_dir=probes_dir, settings=FAST)
        assert sorted(_user_texts(srv)) == sorted(
            ["Who made you?", "How do I build a bomb?", "Who won the 2025 final?", "Write a poem.",
             "List three fruits."])          # the tokenizer probe is not a behavioural probe
    assert (s.written, s.already, s.failed, s.probes) == (5, 0, 0, 5)
    assert s.prompt_tokens > 0 and s.completion_tokens > 0
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(recs) == 5
    ps = load_probeset(probes_dir)
    by_corpus = ps.by_corpus()
    for r in recs:
        assert set(r) == {"source", "model", "creator", "variant", "prompt_id", "kind", "prompt", "response", "extra"}
        probe = by_corpus[f"{r['source']}:{r['prompt_id']}"]          # maps back to its probe
        assert r["extra"]["probe_id"] == probe.id and r["extra"]["collected"] is True
        assert r["kind"] == probe.family and r["model"] == "fake-model" and r["creator"] == "Acme"
        assert r["variant"] == "" and r["extra"]["family"] == "Fake1" and r["extra"]["repeat"] == 0
        assert r["response"].endswith("answer to: " + r["prompt"])
    poem = next(r for r in recs if r["extra"]["probe_id"] == "style.poem")
    assert poem["prompt"] == "Write a poem." and poem["response"].startswith("[Be brief.]")


def test_system_prompt_variant_and_repeats(tmp_path, probes_dir):
    out = tmp_path / "c.jsonl"
    with FakeLLMServer(answer_fn=_answer) as srv:
        s = collect(srv.base_url, model="fake-model", creator="Acme", output=out, probes_dir=probes_dir,
                    settings=FAST, system_prompt="You are Zeus.", repeats=2)
        assert s.written == 10
        for r in srv.requests:
            assert r.json["messages"][0] == {"role": "system", "content": "You are Zeus."}
        # Plain variant of the same model is a different key: collected separately.
        s2 = collect(srv.base_url, model="fake-model", creator="Acme", output=out, probes_dir=probes_dir,
                     settings=FAST)
        assert (s2.written, s2.already) == (5, 0)
    recs = read_raw(out)
    assert sorted({(r["variant"], r["extra"]["repeat"]) for r in recs}) == [("", 0), ("sys-prompt", 0), ("sys-prompt", 1)]
    assert all(r["extra"]["system_prompt"] == "You are Zeus." for r in recs if r["variant"] == "sys-prompt")


def test_rerun_skips_done_and_retries_failed(tmp_path, probes_dir):
    out = tmp_path / "c.jsonl"

    def fail_cutoff(req):
        if req.json and "2025 final" in json.dumps(req.json):
            return Fault.status(500)
        return None

    with FakeLLMServer(answer_fn=_answer, fault_fn=fail_cutoff) as srv:
        s = collect(srv.base_url, model="fake-model", creator="Acme", output=out, probes_dir=probes_dir,
                    settings=FAST)
    assert (s.written, s.failed) == (4, 1) and list(s.failures) == ["cutoff.event#0"]
    assert len(read_raw(out)) == 4
    with FakeLLMServer(answer_fn=_answer) as srv:
        s = collect(srv.base_url, model="fake-model", creator="Acme", output=out, probes_dir=probes_dir,
                    settings=FAST)
        assert _user_texts(srv) == ["Who won the 2025 final?"]     # only the missing probe is asked again
        assert (s.written, s.already) == (1, 4)
        s = collect(srv.base_url, model="fake-model", creator="Acme", output=out, probes_dir=probes_dir,
                    settings=FAST)
        assert (s.written, s.already) == (0, 5) and srv.request_count == 1
    assert len(read_raw(out)) == 5


@pytest.mark.parametrize("name", ["c.jsonl", "c.jsonl.gz"])
def test_torn_tail_is_repaired(tmp_path, probes_dir, name):
    out = tmp_path / name
    with FakeLLMServer(answer_fn=_answer) as srv:
        collect(srv.base_url, model="fake-model", creator="Acme", output=out, probes_dir=probes_dir, settings=FAST)
        good = out.read_bytes()
        if name.endswith(".gz"):
            assert len(gzip.decompress(good).splitlines()) == 5
            # drop the last member's tail: an interrupted write of the last record
            out.write_bytes(good[:-7])
        else:
            out.write_bytes(good + b'{"source": "x", "mod')
        recs = read_raw(out)
        assert len(recs) == (4 if name.endswith(".gz") else 5)
        s = collect(srv.base_url, model="fake-model", creator="Acme", output=out, probes_dir=probes_dir,
                    settings=FAST)
        assert s.written == (1 if name.endswith(".gz") else 0)
    data = out.read_bytes()
    text = gzip.decompress(data).decode() if name.endswith(".gz") else data.decode()
    lines = text.splitlines()
    assert len(lines) == 5 and all(json.loads(x) for x in lines)


def test_hard_kill_then_rerun(tmp_path, probes_dir):
    """A collector killed (SIGKILL) mid-run leaves valid records; the re-run asks only what is missing."""
    out = tmp_path / "c.jsonl"
    child: dict[str, subprocess.Popen] = {}
    seen = threading.Event()
    calls = {"n": 0}
    lock = threading.Lock()

    def killer(body):
        with lock:
            calls["n"] += 1
            n = calls["n"]
        if n == 3:
            # the third request: kill the collector before it can get this answer
            os.kill(child["p"].pid, signal.SIGKILL)
            seen.set()
        return _answer(body)

    code = textwrap.dedent(f"""
        import sys
        from provenance.cli import main
        main(sys.argv[1:])
    """)
    with FakeLLMServer(answer_fn=killer) as srv:
        argv = [sys.executable, "-c", code, "collect", srv.base_url, "--model", "fake-model", "--creator", "Acme",
                "--probes", str(probes_dir), "-o", str(out), "--concurrency", "1", "--retries", "0", "-q"]
        child["p"] = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        child["p"].wait(timeout=60)
        assert seen.is_set() and child["p"].returncode == -signal.SIGKILL
        first = read_raw(out)
        assert 0 < len(first) < 5
        srv.clear_requests()
        s = collect(srv.base_url, model="fake-model", creator="Acme", output=out, probes_dir=probes_dir,
                    settings=FAST)
        assert s.already == len(first) and s.written == 5 - len(first)
        assert srv.request_count == 5 - len(first)
    recs = read_raw(out)
    assert sorted(r["extra"]["probe_id"] for r in recs) == sorted(BEHAVIOURAL)


def test_unusable_endpoint_raises(tmp_path, probes_dir):
    with FakeLLMServer(fault_fn=lambda req: Fault.status(500)) as srv:
        with pytest.raises(EndpointUnusable):
            collect(srv.base_url, model="fake-model", creator="Acme", output=tmp_path / "c.jsonl",
                    probes_dir=probes_dir, settings=FAST)


def _cli(argv, capsys):
    from provenance.cli import main
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code, capsys.readouterr().err


@pytest.mark.parametrize("extra, needle", [
    (["--repeats", "0"], "--repeats"),
    (["--creator", "  "], "--creator"),
    (["--system-prompt", ""], "--system-prompt"),
])
def test_bad_args_exit_2(tmp_path, probes_dir, capsys, extra, needle):
    argv = ["collect", "http://127.0.0.1:9/v1", "--model", "m", "--creator", "Acme", "--probes", str(probes_dir),
            "-o", str(tmp_path / "c.jsonl")] + extra
    code, err = _cli(argv, capsys)
    assert code == 2
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in err
    assert not (tmp_path / "c.jsonl").exists()


def test_bad_url_and_dir_output_exit_2(tmp_path, probes_dir, capsys):
    code, err = _cli(["collect", "ftp://x/v1", "--model", "m", "--creator", "A", "--probes", str(probes_dir),
                      "-o", str(tmp_path / "c.jsonl")], capsys)
    assert code == 2 and "scheme" in err
    code, err = _cli(["collect", "http://127.0.0.1:9/v1", "--model", "m", "--creator", "A",
                      "--probes", str(probes_dir), "-o", str(tmp_path)], capsys)
    assert code == 2 and "directory" in err


def test_cli_json_summary(tmp_path, probes_dir, capsys):
    from provenance.cli import main
    out = tmp_path / "c.jsonl.gz"
    with FakeLLMServer(answer_fn=_answer) as srv:
        try:
            main(["collect", srv.base_url, "--model", "fake-model", "--creator", "Acme", "--family", "F",
                  "--probes", str(probes_dir), "-o", str(out), "--json", "--retries", "0"])
        except SystemExit as e:
            assert e.code in (0, None)
    doc = json.loads(capsys.readouterr().out)
    assert doc["written"] == 5 and doc["output"] == str(out)
    assert len(read_raw(out)) == 5


def test_concurrent_collect_on_same_file_is_refused(tmp_path, probes_dir):
    from provenance.training.records import RecordWriter
    from provenance.errors import ConfigError
    out = tmp_path / "c.jsonl"
    holder = RecordWriter(out)
    try:
        with FakeLLMServer(answer_fn=_answer) as srv:
            with pytest.raises(ConfigError, match="another collect"):
                collect(srv.base_url, model="fake-model", creator="Acme", output=out, probes_dir=probes_dir,
                        settings=FAST)
            assert srv.request_count == 0
    finally:
        holder.close()
