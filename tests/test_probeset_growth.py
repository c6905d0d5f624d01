"""A model scores a probe set larger than its own (issue 33 item 6): probes it was not trained on
are sent and stored, left out of the score and named in the report; a set that changed or
dropped a probe the model knows is refused as before."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from provenance.classifier import load_classifier
from provenance.classifier.artifact import load_artifact, write_artifact
from provenance.errors import ArtifactError
from provenance.probes import load_probeset
from provenance.report import read_report, transcript_from_report
from provenance.run.steps import classify_report_dict
from provenance.transcript import ProbeResult

from factory import NEW_PROBE_TOML, REPORTS, TINY_PROBES, grown_probes, probe_dir, run_cli

EXTRA = '''
[[probe]]
id = "extra.one"
family = "style"
corpus = "arena_hard:extra_one"
messages = [{ role = "user", content = "A new question." }]
'''


def test_the_rule_superset_accepted_changed_or_dropped_refused(tmp_path: Path) -> None:
    ps = load_probeset(probe_dir(tmp_path, TINY_PROBES, name="tiny", version="1", folder="a"))
    art = write_artifact(tmp_path / "m", {"a": np.zeros(2)}, {"labels": ["X"]}, ps)
    load_artifact(art, ps)                                                     # the same set
    grown = load_probeset(probe_dir(tmp_path, TINY_PROBES + EXTRA, name="tiny", version="2", folder="b"))
    load_artifact(art, grown)                                                  # adds a probe: accepted
    assert grown.holds(ps.info(), ps.ids()) and not ps.holds(grown.info(), grown.ids())
    changed = load_probeset(probe_dir(tmp_path, TINY_PROBES.replace("rivers", "lakes") + EXTRA, name="tiny",
                                      version="2", folder="c"))
    with pytest.raises(ArtifactError, match="does not hold the model's probes unchanged"):
        load_artifact(art, changed)                                            # a known probe changed
    first = TINY_PROBES.split("[[probe]]")
    dropped = load_probeset(probe_dir(tmp_path, "[[probe]]".join(first[:-1]) + EXTRA, name="tiny", version="2",
                                      folder="d"))
    with pytest.raises(ArtifactError, match="probe set"):
        load_artifact(art, dropped)                                            # a known probe missing
    renamed = load_probeset(probe_dir(tmp_path, TINY_PROBES + EXTRA, name="other", version="1", folder="e"))
    load_artifact(art, renamed)                # name and version are the set's labels; content decides


def test_added_probes_are_named_and_left_out_of_the_score(tmp_path: Path) -> None:
    grown = load_probeset(grown_probes(tmp_path))
    clf = load_classifier(None, grown)                  # the shipped model accepts the grown set
    doc = read_report(REPORTS / "qwen2.5-coder-0.5b.json")
    t = transcript_from_report(doc)
    base = classify_report_dict(t, clf, run_id="r")
    t.results.append(ProbeResult(probe_id="style.contributed.001", family="style",
                                 text="As an AI model developed by OpenAI, I picture a lighthouse at dawn."))
    got = classify_report_dict(t, clf, run_id="r")
    assert got["probeset"]["unscored"] == ["style.contributed.001"] and "unscored" not in base["probeset"]
    assert [p["probe_id"] for p in got["probes"]][-1] == "style.contributed.001"       # kept in the report
    a, b = got["attribution"], base["attribution"]
    assert (a["creator"], a["confidence"], a["candidates"]) == (b["creator"], b["confidence"], b["candidates"])
    note = [n for n in a["reliability"] if "not scored" in n]
    assert note == ["1 probes not scored: the model was not trained on them (style.contributed.001); retrain to use them"]
    again = classify_report_dict(transcript_from_report(got), clf)                      # re-classified: the same
    assert again["probeset"]["unscored"] == ["style.contributed.001"]


def test_adding_a_probe_does_not_break_the_demo(tmp_path: Path) -> None:
    grown = grown_probes(tmp_path)
    p = run_cli(["demo", "--probes", str(grown), "--json"], tmp_path, timeout=180)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["probeset"]["version"] == "9.9.9" and doc["probeset"]["unscored"] == ["style.contributed.001"]
    sent = {q["probe_id"]: q for q in doc["probes"]}
    assert sent["style.contributed.001"]["status"] == "ok"                              # sent
    a = doc["attribution"]
    assert a["creator"] == "Alibaba" or (a.get("best_guess") or {}).get("creator") == "Alibaba"
    assert any("not scored" in n and "style.contributed.001" in n for n in a["reliability"])


def test_added_probes_are_stored(tmp_path: Path) -> None:
    """A stored run keeps the added probe's answer (re-classified by a retrained model later)."""
    grown = grown_probes(tmp_path, NEW_PROBE_TOML)
    from factory import replay_server
    with replay_server(REPORTS / "qwen2.5-coder-0.5b.json", "qwen2") as srv:
        p = run_cli(["probe", srv.base_url, "--model", "qwen", "--probes", str(grown), "--json"], tmp_path,
                    timeout=300)
    assert p.returncode == 0, p.stderr
    rid = json.loads(p.stdout)["run"]["id"]
    exported = run_cli(["report", "export", rid], tmp_path)
    assert exported.returncode == 0, exported.stderr
    doc = json.loads(exported.stdout)
    assert "style.contributed.001" in {q["probe_id"] for q in doc["probes"]}
