"""`provenance demo`: a verdict in seconds through the real HTTP path, from a checkout and from
an installed wheel (issue 27 item 7)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from provenance.demo import Replay, load_replay, replay_server
from provenance.probes import load_probeset

from factory import REPO, run_cli


def test_demo_prints_a_verdict_and_what_to_do_next(tmp_path: Path) -> None:
    p = run_cli(["demo"], tmp_path, env={"COLUMNS": "200"}, timeout=120)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "replays the answers" in out and "recorded, not live" in out
    head = out.splitlines()[1:6]
    assert any(x.startswith(("Creator match", "Aggressive creator guess", "No confident")) for x in head)
    assert any("Alibaba" in x for x in head)       # the shipped model names Qwen's maker (match on 0.2.0's model)
    assert "provenance probe https://api.example.com/v1 --model MODEL --api-key-env" in out
    assert "no recorded answer" not in out                       # the replay covers the shipped probes
    assert not (tmp_path / "runs.sqlite3").exists()               # a demo is not a stored run
    assert "(not stored)" in out.split("Next, point it")[0]     # ... and its run id says so (issue 36)
    assert '"Real models on this machine" in docs/usage.md' in out
    assert "## Real models on this machine" in (REPO / "docs" / "usage.md").read_text()


def test_demo_json_is_one_report_over_http(tmp_path: Path) -> None:
    p = run_cli(["demo", "--json"], tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["target"]["base_url"].startswith("http://127.0.0.1:")
    ok = [q for q in doc["probes"] if q["status"] == "ok"]
    assert len(ok) >= 0.9 * len(doc["probes"]) and all(q["http_status"] == 200 for q in ok)
    a = doc["attribution"]
    assert a["creator"] == "Alibaba" or (a.get("best_guess") or {}).get("creator") == "Alibaba"
    if a.get("family"):       # P(creator and family): never above the creator's stated confidence
        assert a["family"]["confidence"] <= a["confidence"]
    assert doc["attribution"]["model_echo"]["consistent"] is True
    assert "Next, point it at a real endpoint" in p.stderr


def test_replay_covers_the_shipped_probe_set() -> None:
    """Fails when the probe set changes: rebuild with `python scripts/build_demo_data.py`."""
    replay = Replay(load_replay())
    ps = load_probeset(None)
    behavioural = [p for p in ps.probes if p.behavioural]
    covered = [p for p in behavioural if replay.covers(p)]
    assert len(covered) >= 0.9 * len(behavioural), (
        f"demo data answers {len(covered)} of {len(behavioural)} behavioural probes: "
        "run python scripts/build_demo_data.py")


def test_replay_data_is_the_projects_own_and_reproducible(tmp_path: Path) -> None:
    data = load_replay()
    assert set(data["sources"]) == {"data/collected/local-models.jsonl", "data/e2e-reports/qwen2.5-coder-0.5b.json"}
    shipped = REPO / "src" / "provenance" / "data" / "demo-replay.json.gz"
    assert shipped.stat().st_size < 200_000
    out = tmp_path / "replay.json.gz"
    subprocess.run([sys.executable, str(REPO / "scripts" / "build_demo_data.py"), "-o", str(out)],
                   check=True, capture_output=True)
    assert out.read_bytes() == shipped.read_bytes(), "rebuild with python scripts/build_demo_data.py"


def test_replay_server_answers_by_prompt() -> None:
    import httpx
    replay = Replay(load_replay())
    prompt, answer = next(iter(replay.answers.items()))
    with replay_server(replay) as srv:
        r = httpx.post(srv.base_url + "/chat/completions",
                       json={"model": "x", "messages": [{"role": "user", "content": prompt}], "max_tokens": 4096})
    body = r.json()
    assert body["model"] == replay.model and body["choices"][0]["message"]["content"] == answer


@pytest.mark.skipif(importlib.util.find_spec("hatchling") is None, reason="hatchling not installed (pip install hatchling)")
def test_demo_from_an_installed_wheel(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(REPO)], check=True, capture_output=True, timeout=300)
    whl = next(wheels.glob("provenance-*.whl"))
    site = tmp_path / "site"
    with zipfile.ZipFile(whl) as z:
        assert "provenance/data/demo-replay.json.gz" in z.namelist()
        z.extractall(site)
    env = dict(os.environ, PYTHONPATH=str(site), PROVENANCE_DB=str(tmp_path / "db.sqlite3"), COLUMNS="200")
    where = subprocess.run([sys.executable, "-c", "import provenance; print(provenance.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert where.stdout.strip().startswith(str(site))
    p = subprocess.run([sys.executable, "-m", "provenance", "demo"], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "Alibaba" in p.stdout and "Next, point it at a real endpoint" in p.stdout
