"""The questionnaire: forms printed, filled in by hand, read back and classified; probe --manual.

Real files and real processes throughout: the CLI runs as a subprocess on forms written to
disk, the interactive mode is driven through its stdin. No probe id is hard-coded: the
questions come from `provenance questionnaire --json`, so these tests follow whatever
probe set and model are shipped.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from provenance.answers import parse_answers_text, read_answers
from provenance.errors import ConfigError
from provenance.probes import load_probeset
from provenance.questionnaire import (NOT_MEASURED, askable, choose_questions, form_markdown, make_form,
                                      question_order)

from factory import probe_dir, run_cli

CLAUDE = "I am Claude, an AI assistant made by Anthropic."
GPT = "I'm ChatGPT, a large language model trained by OpenAI, based on the GPT-4 architecture."
TRICKY = ("Sure! Here is a **recipe**.\n\n# Ingredients\n\n## Question 3 of 10\n\n"
          "```python\nprint('<!-- not a marker -->')\n```\n\n<!-- a comment of the answer's own -->\n"
          "- step one  \n- step two\n\n~~~\nfenced too\n~~~")


def questions(cwd: Path, n: int = 10) -> dict:
    p = run_cli(["questionnaire", "-n", str(n), "--json"], cwd)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def answer_for(pid: str) -> str:
    return CLAUDE if pid.startswith("identity.") else TRICKY


def fill(form: str, answers: dict[str | None, dict[str, str]], newline: str = "\n") -> str:
    """Paste answers under their start markers, as a person does in an editor."""
    import re
    out = []
    for line in form.split("\n"):
        out.append(line)
        m = re.match(r"<!-- answer(?: ([AB]))?: (\S+) -->$", line)
        if m and m.group(2) in answers.get(m.group(1), {}):
            out.append(answers[m.group(1)][m.group(2)])
    return newline.join(out)


# ------------------------------------------------------------------ choosing the questions

def test_questions_follow_the_ranking_and_leave_out_api_probes() -> None:
    ps = load_probeset()
    ask = [p for p in ps.probes if askable(p)]
    assert ask and all(p.behavioural for p in ask)
    assert not any(askable(p) for p in ps.probes if p.family in ("tokenizer", "api"))
    a, b, c = ask[0], ask[1], ask[2]
    ranking = [
        {"id": a.id, "accuracy": 0.2, "answers": 40, "max_tokens": 100, "info_per_token": 1.0},   # gain 0.1
        {"id": b.id, "accuracy": 0.9, "answers": 40, "max_tokens": 300, "info_per_token": 1.0},   # gain 0.3
        {"id": c.id, "accuracy": 0.6, "answers": 0, "max_tokens": 300, "info_per_token": 9.0},    # unmeasured
        {"id": "tokenizer.not.askable", "answers": 50, "max_tokens": 1, "info_per_token": 99.0},
    ]
    order = question_order(ps, ranking)
    assert [p.id for p in order[:3]] == [b.id, a.id, c.id]          # per question, not per token
    assert {p.id for p in order} == {p.id for p in ask}             # every askable probe, once
    assert [p.id for p in choose_questions(ps, ranking, 2)] == [b.id, a.id]
    # bare ids keep their order; no ranking at all: probe-set order, identity first
    assert [p.id for p in question_order(ps, [c.id, a.id])[:2]] == [c.id, a.id]
    assert question_order(ps, None)[0].family == "identity"


def test_shipped_form_uses_the_models_stored_ranking(tmp_path: Path) -> None:
    from provenance.classifier import load_classifier
    from provenance.questionnaire import ranking_of
    ps = load_probeset()
    clf = load_classifier(None, probeset=ps)
    doc = questions(tmp_path, 5)
    assert [q["id"] for q in doc["questions"]] == [p.id for p in choose_questions(ps, ranking_of(clf), 5)]
    assert (doc["probeset"], doc["version"], doc["hash"]) == (ps.name, ps.version, ps.hash)
    assert set(doc) == {"probeset", "version", "hash", "questions"}
    byid = {p.id: p for p in ps.probes}
    for q in doc["questions"]:
        assert askable(byid[q["id"]]) and q["prompt"] == byid[q["id"]].messages[0]["content"]


def test_tiny_probeset_form_has_no_api_question(tiny_probes: Path) -> None:
    ps = load_probeset(tiny_probes)
    form = make_form(ps, None, 10)
    assert [p.id for p in form.questions] == ["identity.who", "style.haiku"]
    md = form_markdown(form)
    assert "tokenizer.digits" not in md and ps.hash in md


# ------------------------------------------------------------------ reading forms (library)

def test_markdown_round_trip_hand_edited(tiny_probes: Path) -> None:
    ps = load_probeset(tiny_probes)
    form = form_markdown(make_form(ps, None, 10))
    answers = {"identity.who": "  " + CLAUDE + "   ", "style.haiku": TRICKY}
    text = fill(form, {None: answers}, newline="\r\n")
    text = "\ufeff" + text.replace("<!-- end answer -->", "\r\n\r\n   <!-- end answer -->   \r\n\r\n")
    (tiny_probes.parent / "f.md").write_text(text, encoding="utf-8", newline="")
    got = read_answers(tiny_probes.parent / "f.md", ps)
    assert not got.pair and got.questions == ["identity.who", "style.haiku"]
    assert got.answered()["identity.who"] == CLAUDE
    want = "\n".join(line.rstrip() for line in TRICKY.split("\n"))
    assert got.answered()["style.haiku"] == want


def test_pair_form_and_json_shapes(tiny_probes: Path) -> None:
    ps = load_probeset(tiny_probes)
    form = form_markdown(make_form(ps, None, 10, pair=True))
    assert "<!-- answer A: identity.who -->" in form and "<!-- end answer B -->" in form
    got = parse_answers_text(fill(form, {"A": {"identity.who": CLAUDE}, "B": {"identity.who": GPT,
                                                                              "style.haiku": "x"}}), "p.md")
    assert got.pair and got.answered("A") == {"identity.who": CLAUDE}
    assert got.answered("B") == {"identity.who": GPT, "style.haiku": "x"}
    info = ps.info()
    shapes = [
        {"answers": {"identity.who": CLAUDE}},
        [{"id": "identity.who", "answer": CLAUDE}, {"id": "style.haiku", "answer": ""}],
        {"probeset": info["name"], "version": info["version"], "hash": info["hash"],
         "questions": [{"id": "identity.who", "prompt": "...", "answer": CLAUDE}]},
    ]
    for doc in shapes:
        a = parse_answers_text(json.dumps(doc), "a.json")
        assert a.answered() == {"identity.who": CLAUDE}, doc
    pair = parse_answers_text(json.dumps({"answers": {"A": {"identity.who": CLAUDE}, "B": {"style.haiku": "y"}}}), "j")
    assert pair.pair and pair.answered("B") == {"style.haiku": "y"}
    pair = parse_answers_text(json.dumps([{"id": "identity.who", "answer_a": CLAUDE, "answer_b": GPT}]), "j")
    assert pair.answered("A") == {"identity.who": CLAUDE} and pair.answered("B") == {"identity.who": GPT}


# ------------------------------------------------------------------ classify --answers (CLI)

def test_classify_markdown_form_end_to_end(tmp_path: Path) -> None:
    p = run_cli(["questionnaire", "-o", "form.md"], tmp_path)
    assert p.returncode == 0, p.stderr
    form = (tmp_path / "form.md").read_text(encoding="utf-8")
    doc = questions(tmp_path)
    ids = [q["id"] for q in doc["questions"]]
    assert f"{doc['probeset']} {doc['version']} ({doc['hash']})" in form
    answered = {pid: answer_for(pid) for pid in ids[:-1]}            # the last one left empty
    (tmp_path / "filled.md").write_text(fill(form, {None: answered}, "\r\n"), encoding="utf-8", newline="")
    p = run_cli(["classify", "--answers", "filled.md", "--label", "arena-x", "--json", "-o", "r.json"], tmp_path)
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert json.loads((tmp_path / "r.json").read_text()) == rep
    assert rep["target"]["protocol"] == "manual" and rep["target"]["model"] == "arena-x"
    assert rep["summary"] == {"total": len(ids), "ok": len(ids) - 1, "failed": 0, "skipped": 1}
    a = rep["attribution"]
    assert a["status"] in ("match", "ambiguous", "unknown") and a["candidates"]
    assert a["tokenizer"]["reason"] == NOT_MEASURED and a["stack"]["reason"] == NOT_MEASURED
    assert a["channels"]["tokenizer"]["available"] is False and a["channels"]["api"]["available"] is False
    texts = {x["probe_id"]: x["text"] for x in rep["probes"] if x["status"] == "ok"}
    assert texts == {pid: "\n".join(ln.rstrip() for ln in t.split("\n")) for pid, t in answered.items()}
    # stored in the run store like any run, and shown as a verdict
    runs = json.loads(run_cli(["runs", "list", "--json"], tmp_path).stdout)
    assert runs[0]["id"] == rep["run"]["id"] and runs[0]["status"] == "complete"
    shown = run_cli(["runs", "show", rep["run"]["id"]], tmp_path)
    assert "answers pasted by hand" in shown.stdout and "not measured" in shown.stdout
    again = run_cli(["classify", "--run", rep["run"]["id"], "--json"], tmp_path)
    assert again.returncode == 0 and json.loads(again.stdout)["attribution"]["creator"] == a["creator"]


def test_classify_json_questionnaire_with_answers(tmp_path: Path) -> None:
    doc = questions(tmp_path, 3)
    for q in doc["questions"]:
        q["answer"] = answer_for(q["id"])
    (tmp_path / "a.json").write_text(json.dumps(doc), encoding="utf-8")
    p = run_cli(["classify", "--answers", "a.json", "--json", "--no-store"], tmp_path)
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert rep["summary"]["ok"] == 3
    assert not (tmp_path / "runs.sqlite3").exists()
    one = {"answers": {doc["questions"][0]["id"]: doc["questions"][0]["answer"]}}
    (tmp_path / "one.json").write_text(json.dumps(one), encoding="utf-8")
    p = run_cli(["classify", "--answers", "one.json"], tmp_path)      # a single answer is enough
    assert p.returncode == 0, p.stderr
    assert "answers pasted by hand" in p.stdout and "probes: 1 ok" in p.stdout


def test_classify_pair_form(tmp_path: Path) -> None:
    assert run_cli(["questionnaire", "--pair", "-n", "6", "-o", "battle.md"], tmp_path).returncode == 0
    form = (tmp_path / "battle.md").read_text(encoding="utf-8")
    ids = [q["id"] for q in questions(tmp_path, 6)["questions"]]
    a = {pid: (CLAUDE if pid.startswith("identity.") else TRICKY) for pid in ids}
    b = {pid: (GPT if pid.startswith("identity.") else "Certainly! " + TRICKY) for pid in ids[:3]}
    (tmp_path / "filled.md").write_text(fill(form, {"A": a, "B": b}), encoding="utf-8")
    p = run_cli(["classify", "--answers", "filled.md", "--pair", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert set(doc) == {"A", "B"}
    assert doc["A"]["target"]["side"] == "A" and doc["B"]["target"]["side"] == "B"
    assert doc["A"]["summary"]["ok"] == len(ids) and doc["B"]["summary"]["ok"] == 3
    # each side is attributed on its own answers alone, as a single form of them would be
    for side, answers in (("A", a), ("B", b)):
        (tmp_path / f"{side}.json").write_text(json.dumps({"answers": answers}), encoding="utf-8")
        single = json.loads(run_cli(["classify", "--answers", f"{side}.json", "--json", "--no-store"], tmp_path).stdout)
        assert single["attribution"]["candidates"] == doc[side]["attribution"]["candidates"]
        assert {x["probe_id"]: x["text"] for x in single["probes"] if x["text"]} == \
               {x["probe_id"]: x["text"] for x in doc[side]["probes"] if x["text"]}
    p = run_cli(["classify", "--answers", "filled.md"], tmp_path)      # readable verdicts, A then B
    assert p.returncode == 0 and p.stdout.index("Model A") < p.stdout.index("Model B")
    assert len(json.loads(run_cli(["runs", "list", "--json"], tmp_path).stdout)) == 4


def test_pasted_text_is_untrusted(tmp_path: Path) -> None:
    doc = questions(tmp_path, 2)
    evil = "I am \x1b[2J\x1b]0;pwn\x07[bold red]Claude[/bold red] by Anthropic " + "x" * 40_000
    (tmp_path / "e.json").write_text(json.dumps({"answers": {q["id"]: evil for q in doc["questions"]}}))
    p = run_cli(["classify", "--answers", "e.json", "--label", "\x1b[31mred"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "\x1b" not in p.stdout and "\x07" not in p.stdout
    rep = json.loads(run_cli(["classify", "--answers", "e.json", "--json", "--no-store"], tmp_path).stdout)
    assert all(len(x["text"]) <= 32_000 and x["truncated"] for x in rep["probes"] if x["status"] == "ok")


@pytest.mark.parametrize("content, why", [
    ("", "empty"),
    ("  \n\r\n  ", "empty"),
    (b"\xff\xfe\x00bad", "not UTF-8"),
    ("# a note\n\nno markers here\n", "no answer markers"),
    ("{not json", "does not parse"),
    ('{"answers": 5}', "must be an object or a list"),
    ('{"answers": {"X": 5}}', "must be a string"),
    ('{"something": 1}', "needs 'answers' or 'questions'"),
    ('[{"answer": "x"}]', "needs a string 'id'"),
    ('{"answers": {"no.such.probe": "hello"}}', "unknown question id"),
])
def test_bad_answer_files_exit_2(tmp_path: Path, content, why: str) -> None:
    f = tmp_path / "bad"
    f.write_bytes(content if isinstance(content, bytes) else content.encode())
    p = run_cli(["classify", "--answers", "bad"], tmp_path)
    assert p.returncode == 2, p.stdout
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and why in lines[0] and "Traceback" not in p.stderr


def test_bad_forms_exit_2(tmp_path: Path) -> None:
    assert run_cli(["questionnaire", "-n", "3", "-o", "form.md"], tmp_path).returncode == 0
    form = (tmp_path / "form.md").read_text(encoding="utf-8")
    doc = questions(tmp_path, 3)
    ids = [q["id"] for q in doc["questions"]]
    filled = fill(form, {None: {ids[0]: CLAUDE}})
    ps = load_probeset()
    api_id = next(p.id for p in ps.probes if not askable(p))
    cases = {
        "other_version.md": (filled.replace(f"version={doc['version']}", "version=0.0.9")
                             .replace(f" {doc['version']} (", " 0.0.9 ("), "probe set"),
        "other_hash.md": (filled.replace(doc["hash"], "sha256:" + "0" * 64), "hash"),
        "unanswered.md": (form, "no answer"),
        "no_end.md": (filled.replace("<!-- end answer -->", "", 1), "end marker"),
        "unknown.md": (filled.replace(f"<!-- answer: {ids[1]} -->", "<!-- answer: made.up.id -->"), "unknown question id"),
        "api.md": (filled.replace(f"<!-- answer: {ids[1]} -->", f"<!-- answer: {api_id} -->"), "needs the API"),
        "twice.md": (filled + f"\n<!-- answer: {ids[0]} -->\nagain\n<!-- end answer -->\n", "second answer"),
    }
    for name, (text, why) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        p = run_cli(["classify", "--answers", name], tmp_path)
        assert p.returncode == 2, (name, p.stdout)
        assert len(p.stderr.strip().splitlines()) == 1 and why in p.stderr, (name, p.stderr)
    (tmp_path / "ok.md").write_text(filled, encoding="utf-8")
    for args, why in ((["classify", "--answers", "ok.md", "--pair"], "pair form"),
                      (["classify", "--answers", "missing.md"], "cannot read"),
                      (["classify", "--answers", "."], "directory"),
                      (["classify", "r.json", "--answers", "ok.md"], "exactly one"),
                      (["classify", "r.json", "--pair"], "go with --answers"),
                      (["questionnaire", "-n", "0"], "")):
        p = run_cli(args, tmp_path)
        assert p.returncode == 2 and why in p.stderr, (args, p.stderr)


# ------------------------------------------------------------------ probe --manual

def test_manual_session_through_stdin(tmp_path: Path) -> None:
    ids = [q["id"] for q in questions(tmp_path, 4)["questions"]]
    script = "".join(f"{answer_for(pid)}\n.\n" if i != 1 else ".\n" for i, pid in enumerate(ids))
    p = run_cli(["probe", "--manual", "-m", "arena-x", "--budget", "4", "--json"], tmp_path, input=script)
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert rep["target"]["protocol"] == "manual" and rep["target"]["source"] == "interactive"
    assert [x["probe_id"] for x in rep["probes"]] == ids
    assert [x["status"] for x in rep["probes"]] == ["ok", "skipped", "ok", "ok"]
    assert p.stderr.count("Question ") == 4 and "after 3 of 4 answers" in p.stderr
    assert "every question asked" in p.stderr
    # the readable verdict goes to stdout without --json
    p = run_cli(["probe", "--manual", "--budget", "2"], tmp_path, input=f"{CLAUDE}\n.\n{CLAUDE}")
    assert p.returncode == 0 and "answers pasted by hand (interactive)" in p.stdout


def test_manual_until_confident_stops_early(tmp_path: Path) -> None:
    lines = "".join(f"{CLAUDE}\n.\n" for _ in range(10))
    p = run_cli(["probe", "--manual", "--until-confident", "0.5", "--json"], tmp_path, input=lines)
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    if rep["probes"][0]["probe_id"].startswith("identity."):        # a self-identification question first
        assert "confident" in rep["run"]["stopped_because"] and rep["summary"]["ok"] < 10
        assert any(x["error"] == "not asked yet" for x in rep["probes"])


def _results(db: Path, run_id: str) -> int:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT COUNT(*) FROM probe_results WHERE run_id = ? AND status = 'ok'",
                         (run_id,)).fetchone()[0]


def _default_sigint() -> None:
    """In the child, before it starts: SIGINT's default action, as a terminal's Ctrl-C finds it, even
    when this test process runs with SIGINT ignored (started in the background, some CI runners)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stderr_lines(stream, q: "queue.Queue[str | None]") -> None:
    for line in iter(stream.readline, ""):
        q.put(line)
    q.put(None)


@pytest.mark.parametrize("how", ["sigint", "sigkill"])
def test_manual_resume_after_interruption(tmp_path: Path, how: str) -> None:
    ids = [q["id"] for q in questions(tmp_path, 3)["questions"]]
    env = dict(os.environ, PROVENANCE_DB=str(tmp_path / "runs.sqlite3"))
    seen: list[str] = []
    lines: queue.Queue = queue.Queue()
    with subprocess.Popen([sys.executable, "-m", "provenance", "probe", "--manual", "--budget", "3"],
                          stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env=env, cwd=tmp_path, preexec_fn=_default_sigint) as proc:
        reader = threading.Thread(target=_stderr_lines, args=(proc.stderr, lines), daemon=True)
        reader.start()
        try:
            proc.stdin.write(f"{answer_for(ids[0])}\n.\n")
            proc.stdin.flush()
            # the second question is asked once the first answer is stored: the session then waits
            # for input, so the signal lands at a known point, however busy the machine
            while not any("Question 2 of 3" in x for x in seen):
                line = lines.get(timeout=120)
                assert line is not None, "".join(seen)
                seen.append(line)
            with sqlite3.connect(tmp_path / "runs.sqlite3") as c:
                run_id = c.execute("SELECT id FROM runs").fetchone()[0]
            assert _results(tmp_path / "runs.sqlite3", run_id) == 1, "the first answer was not stored"
            proc.send_signal(signal.SIGINT if how == "sigint" else signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        reader.join(timeout=10)
    while not lines.empty():
        seen.append(lines.get() or "")
    err = "".join(seen)
    listing = json.loads(run_cli(["runs", "list", "--json"], tmp_path).stdout)[0]
    if how == "sigint":
        assert proc.returncode == 130 and f"--resume {run_id}" in err, err
        assert err.strip().splitlines()[-1].startswith("provenance: interrupted: 1 of 3 questions answered")
        assert listing["status"] == "interrupted"
    else:
        assert listing["status"] == "running"          # killed: no chance to say so; still resumable
    assert listing["probes"]["ok"] == 1
    rest = "".join(f"{answer_for(pid)}\n.\n" for pid in ids[1:])
    p = run_cli(["probe", "--manual", "--resume", run_id[:10], "--json"], tmp_path, input=rest)
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert rep["run"]["id"] == run_id and rep["summary"]["ok"] == 3
    assert "2 of 3 questions left" in p.stderr and p.stderr.count("Question ") == 2
    assert json.loads(run_cli(["runs", "list", "--json"], tmp_path).stdout)[0]["status"] == "complete"


def test_manual_bad_inputs_exit_2(tmp_path: Path) -> None:
    doc = questions(tmp_path, 1)
    (tmp_path / "a.json").write_text(json.dumps({"answers": {doc["questions"][0]["id"]: CLAUDE}}))
    rid = json.loads(run_cli(["classify", "--answers", "a.json", "--json"], tmp_path).stdout)["run"]["id"]
    for args, why in ((["probe", "--manual", "--resume", "ffffffffffff"], "no run"),
                      (["probe", "--manual", "--resume", rid], "not a `probe --manual` session"),
                      (["probe", "--manual", "http://127.0.0.1:9/v1"], "takes no URL"),
                      (["probe", "--manual", "--no-store"], "--no-store"),
                      (["probe", "http://127.0.0.1:9/v1"], "--model")):
        p = run_cli(args, tmp_path, input="")
        assert p.returncode == 2 and why in p.stderr and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
    p = run_cli(["probe", "--manual"], tmp_path, input="")      # nothing pasted: the session is kept
    last = p.stderr.strip().splitlines()[-1]
    assert p.returncode == 2 and "no answer given" in last and "--resume" in last


# ------------------------------------------------------------------ channels and eval wiring

def test_manual_transcript_has_no_api_channels() -> None:
    from provenance.channels.independent import content_independent_channels
    from provenance.transcript import Transcript
    t = Transcript.from_texts({"identity.x": CLAUDE}, {"identity.x": "identity"}, target={"protocol": "manual"})
    got = {c.name: c for c in content_independent_channels(t)}
    assert set(got) == {"tokenizer", "api"}
    assert all(not c.available and c.reason == NOT_MEASURED for c in got.values())


def test_eval_questionnaire_options(tmp_path: Path) -> None:
    from provenance.cli.questionnaire_cmd import parse_ns
    assert parse_ns("5, 10,20") == [5, 10, 20]
    with pytest.raises(ConfigError):
        parse_ns("5,x")
    (tmp_path / "responses.jsonl.gz").write_bytes(b"")
    for args, why in ((["--questionnaire", "5", "--budget", "3"], "--budget"), (["--questionnaire", "0"], "5,10,20")):
        p = run_cli(["eval", "--corpus", str(tmp_path), *args], tmp_path)
        assert p.returncode == 2 and why in p.stderr, p.stderr


def test_text_pasted_outside_the_markers_is_reported(tmp_path: Path) -> None:
    assert run_cli(["questionnaire", "-n", "2", "-o", "form.md"], tmp_path).returncode == 0
    form = (tmp_path / "form.md").read_text(encoding="utf-8")
    ids = [q["id"] for q in questions(tmp_path, 2)["questions"]]
    text = fill(form, {None: {ids[0]: CLAUDE}}).replace("<!-- end answer -->", "<!-- end answer -->\n" + GPT, 2)
    (tmp_path / "f.md").write_text(text, encoding="utf-8")
    p = run_cli(["classify", "--answers", "f.md", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "warning" in p.stderr and "outside the answer markers" in p.stderr
    assert json.loads(p.stdout)["summary"]["ok"] == 1


def test_eval_questionnaire_table_renders() -> None:
    from io import StringIO
    from rich.console import Console
    from provenance.cli.questionnaire_cmd import render_eval
    entry = {"n": 10, "lomo_models": 96, "models": 180, "models_without_answers": 80, "mean_answered": 4.49,
             "lomo_top1": 0.6667, "lomo_top3": 0.8333, "lomo_reported_accuracy": 0.5625, "lomo_ece": 0.0525,
             "loco_unknown_rate": 0.76, "deal_spread": {"lomo_ece": [0.0575, 0.0706, 0.0884]}}
    buf = StringIO()
    render_eval([entry, dict(entry, n=5, deal_spread=None, models_without_answers=0)],
                Console(file=buf, width=200))
    out = buf.getvalue()
    assert "0.667" in out and "0.058-0.088" in out and "80 of 180 corpus models answered none" in out


def test_an_answer_pasted_twice_is_pointed_out(tmp_path: Path) -> None:
    ids = [q["id"] for q in questions(tmp_path, 3)["questions"]]
    (tmp_path / "a.json").write_text(json.dumps({"answers": {pid: TRICKY for pid in ids}}), encoding="utf-8")
    p = run_cli(["classify", "--answers", "a.json", "--json", "--no-store"], tmp_path)
    assert p.returncode == 0 and "2 answer(s) pasted word for word twice" in p.stderr, p.stderr
    p = run_cli(["probe", "--manual", "--budget", "2", "--json"], tmp_path, input=f"{TRICKY}\n.\n{TRICKY}\n.\n")
    assert p.returncode == 0 and f"word for word the answer to {ids[0]}" in p.stderr, p.stderr


def _synthetic_corpus(d: Path) -> tuple[Path, Path]:
    """Three makers, three models each: twenty style prompts and one identity question."""
    import gzip
    import random
    rng = random.Random(0)
    styles = {"OpenAI": ("Certainly! Here's a quick overview:\n\n- **{w}** matters\n- {v} helps", "I am ChatGPT by OpenAI."),
              "Anthropic": ("I'd be happy to help. {w} is interesting because {v} shapes it.", "I'm Claude, made by Anthropic."),
              "Google": ("## {w}\n\n{v} is key.\n\n### Summary\n* {w}\n* {v}", "I am Gemma, from Google DeepMind.")}
    words = ["rivers", "clouds", "engines", "gardens", "maps", "bridges", "lamps", "forests"]
    prompts = [f"p{i}" for i in range(20)]
    corpus = d / "corpus"
    corpus.mkdir()
    with gzip.open(corpus / "responses.jsonl.gz", "wt", encoding="utf-8") as f:
        for creator, (style, claim) in styles.items():
            for k in range(3):
                model = f"{creator.lower()}-model-{k}"
                for pid in prompts:
                    f.write(json.dumps({"source": "alpaca_eval", "model": model, "creator": creator, "variant": "",
                                        "prompt_id": pid, "kind": "style", "prompt": f"prompt {pid}",
                                        "response": style.format(w=rng.choice(words), v=rng.choice(words)),
                                        "extra": {}}) + "\n")
                f.write(json.dumps({"source": "model_name_identity", "model": model, "creator": creator,
                                    "variant": "", "prompt_id": "identity:x1", "kind": "identity",
                                    "prompt": "who made you?", "response": claim, "extra": {"run": 0}}) + "\n")
    probes = probe_dir(d, "\n".join(
        [f'[[probe]]\nid = "style.{p}"\nfamily = "style"\ncorpus = "alpaca_eval:{p}"\nmax_tokens = 100\n'
         f'messages = [{{ role = "user", content = "prompt {p}" }}]\n' for p in prompts]
        + ['[[probe]]\nid = "identity.who"\nfamily = "identity"\ncorpus = "model_name_identity:identity:x1"\n'
           'max_tokens = 100\nmessages = [{ role = "user", content = "who made you?" }]\n',
           '[[probe]]\nid = "tokenizer.baseline"\nfamily = "tokenizer"\nmode = "baseline"\nmax_tokens = 1\n'
           'messages = [{ role = "user", content = "hi" }]\n']), name="synth", version="0.0.1")
    return corpus, probes


def test_eval_questionnaire_on_a_synthetic_corpus(tmp_path: Path, capsys) -> None:
    from provenance.cli import main
    corpus, probes = _synthetic_corpus(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["eval", "--corpus", str(corpus), "--probes", str(probes), "--questionnaire", "2,5", "--json",
              "--deals", "0"])
    assert e.value.code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["api_channel"] is False and [x["n"] for x in doc["questionnaire"]] == [2, 5]
    ps = load_probeset(probes)
    for x in doc["questionnaire"]:
        assert x["lomo_models"] == 9 and x["models_without_answers"] == 0
        assert 0 < x["mean_answered"] <= x["n"] and 0 <= x["lomo_top1"] <= 1
        for qs in x["fold_questions"]:                 # per fold, N askable questions, never the tokenizer's
            assert len(qs) == x["n"] and all(askable(ps.get(q)) for q in qs)


def test_answers_from_an_endless_device_are_refused(tmp_path) -> None:
    """/dev/zero reports no size: it is read only up to the bound, then refused with exit 2."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "provenance", "classify", "--answers", "/dev/zero", "--no-store"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 2
    assert "too large for an answers file" in r.stderr and len(r.stderr.strip().splitlines()) == 1
