"""Issue 27 item 5 and issue 22's install surprises: help, URLs as typed, --model-dir,
shipped example entrants, no token estimate without an answer, runs list that fits,
and the training extra named when it is missing."""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from pathlib import Path

import pytest

from provenance.probing.entrants import load_entrants
from provenance.testing.fakeserver import FakeLLMServer

from factory import REPO, free_port, run_cli

EXAMPLES = REPO / "examples"


def test_probe_help_says_the_url_is_the_base_ending_in_v1(tmp_path: Path) -> None:
    p = run_cli(["probe", "--help"], tmp_path, env={"COLUMNS": "200"})
    assert p.returncode == 0
    assert "ending in /v1" in p.stdout and "http://127.0.0.1:8080/v1" in p.stdout


@pytest.mark.parametrize("url", ["127.0.0.1:8080/v1", "localhost:8080/v1", "api.example.com/v1?key=SECRET"])
def test_url_without_scheme_is_quoted_as_typed(url: str, tmp_path: Path) -> None:
    p = run_cli(["probe", url, "--model", "m"], tmp_path)
    assert p.returncode == 2
    typed = url.split("?")[0]
    assert p.stderr.strip() == (f"provenance: error: URL '{typed}' has no scheme: write http://{typed} "
                                "or https://...")
    assert "SECRET" not in p.stderr


def test_endpoint_path_instead_of_base_url(tmp_path: Path) -> None:
    p = run_cli(["probe", "http://127.0.0.1:9/v1/chat/completions", "--model", "m"], tmp_path)
    assert p.returncode == 2
    assert "give the base URL, e.g. http://127.0.0.1:9/v1" in p.stderr


def test_eval_takes_model_dir_and_the_old_spelling_still_works(tmp_path: Path) -> None:
    h = run_cli(["eval", "--help"], tmp_path, env={"COLUMNS": "200"})
    assert "--model-dir" in h.stdout and not re.search(r"--model\b(?!-)", h.stdout)
    old = run_cli(["eval", "--corpus", str(tmp_path / "nope"), "--model", str(tmp_path)], tmp_path)
    assert old.returncode == 2
    assert "eval --model is deprecated: use --model-dir" in old.stderr
    assert "reference corpus directory not found" in old.stderr      # parsed, then went on
    both = run_cli(["eval", "--corpus", "x", "--model", "a", "--model-dir", "b"], tmp_path)
    assert both.returncode == 2 and "give --model-dir once" in both.stderr


def test_example_entrants_files_agree_and_scan(tmp_path: Path) -> None:
    files = [EXAMPLES / f"entrants.{ext}" for ext in ("csv", "yaml", "json")]
    loaded = [[(e.name, e.target) for e in load_entrants(f)] for f in files]
    assert loaded[0] == loaded[1] == loaded[2] and len(loaded[0]) >= 2
    # scan the CSV example for real, its two endpoints pointed at loopback fake servers
    with FakeLLMServer(answer_fn=lambda b: "I am Qwen, created by Alibaba Cloud.") as a, \
            FakeLLMServer(answer_fn=lambda b: "I am SmolLM, made by Hugging Face.") as b:
        text = (EXAMPLES / "entrants.csv").read_text()
        text = text.replace("http://127.0.0.1:8080/v1", a.base_url).replace("http://127.0.0.1:8081/v1", b.base_url)
        (tmp_path / "entrants.csv").write_text(text)
        p = run_cli(["scan", "entrants.csv", "--json"], tmp_path)
        assert p.returncode == 0, p.stderr
        assert a.request_count > 0 and b.request_count > 0
        assert any(r.headers.get("x-team") == "example" for r in b.requests)
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    assert lines[-1]["type"] == "summary"


def test_unreachable_report_claims_no_tokens(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    p = run_cli(["probe", url, "--model", "m", "--retries", "0", "-o", "r.json"], tmp_path,
                env={"COLUMNS": "200"})
    assert p.returncode == 3
    cost = json.loads((tmp_path / "r.json").read_text())["cost"]
    assert cost["tokens_total"] == 0 and cost["basis"] == "none" and cost["probes_estimated"] == 0
    assert "estimate" not in p.stdout and "tokens: none counted (no answer)" in p.stdout


def test_runs_list_fits_the_terminal(tmp_path: Path) -> None:
    with FakeLLMServer(answer_fn=lambda b: "I am Claude, made by Anthropic.") as srv:
        for model in ("a-model-with-a-rather-long-name-that-would-not-fit-anywhere", "m2"):
            p = run_cli(["probe", srv.base_url, "--model", model, "--json"], tmp_path)
            assert p.returncode == 0, p.stderr
    ids = [r["id"] for r in json.loads(run_cli(["runs", "list", "--json"], tmp_path).stdout)]
    for cols in (80, 160):
        out = run_cli(["runs", "list"], tmp_path, env={"COLUMNS": str(cols)}).stdout
        lines = out.splitlines()
        assert all(len(x) <= cols for x in lines), out
        assert all(i in out for i in ids)                         # ids whole: runs show takes them
        assert any("verdict" in x and "model" in x for x in lines[:3])
        assert "m2" in out
    assert "endpoint" in run_cli(["runs", "list"], tmp_path, env={"COLUMNS": "160"}).stdout


def test_missing_training_extra_is_one_line(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "sklearn.py").write_text("raise ImportError('No module named sklearn')\n")
    env = {"PYTHONPATH": f"{shadow}:{REPO / 'src'}"}
    for args in (["train", "--corpus", "c", "-o", "m"], ["eval", "--corpus", "c"]):
        p = run_cli(args, tmp_path, env=env)
        assert p.returncode == 2, p.stderr
        assert p.stderr.count("\n") == 1
        # a checkout: install its own extra ('provenance' on the package index is another project)
        assert f"pip install -e '{REPO}[train]'" in p.stderr and "scikit-learn" in p.stderr
        assert "pip install 'provenance[" not in p.stderr


def test_install_hint_outside_a_checkout_names_the_packages(monkeypatch) -> None:
    from provenance import installing
    monkeypatch.setattr(installing, "checkout_root", lambda: None)
    assert installing.install_hint("train", ["scikit-learn", "scipy"]) == "pip install scikit-learn scipy"
    monkeypatch.setattr(installing, "checkout_root", lambda: REPO)
    monkeypatch.chdir(REPO)
    assert installing.install_hint("train", ["scikit-learn"]) == "pip install -e '.[train]'"


IMPORT_DIST = {"sklearn": "scikit-learn", "yaml": "pyyaml", "quicktok": "quicktok-v1"}


def test_every_third_party_import_is_declared() -> None:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=\[ ;]", d)[0].lower() for d in meta["dependencies"]}
    for extra, deps in meta["optional-dependencies"].items():
        if extra != "dev":
            declared |= {re.split(r"[<>=\[ ;]", d)[0].lower() for d in deps}
    stdlib = set(sys.stdlib_module_names) | {"provenance"}
    found = set()
    for f in (REPO / "src" / "provenance").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    third = {m for m in found if m not in stdlib}
    missing = {m for m in third if IMPORT_DIST.get(m, m).lower() not in declared}
    assert not missing, f"imported but declared in no extra: {sorted(missing)}"
    from provenance.cli.extras import EXTRAS
    train = {re.split(r"[<>=\[ ;]", d)[0].lower() for d in meta["optional-dependencies"]["train"]}
    assert {dist.lower() for _, dist in EXTRAS["train"]} <= train
