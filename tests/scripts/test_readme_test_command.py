"""The README's test command (issue 36 item 8): it does not run the 20-45-minute end-to-end tests
unannounced, the README says how long those take and how to run them, and .ci/run calls it."""

from __future__ import annotations

import re
import tomllib

from factory import REPO


def _install_and_test() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    return readme.split("## Install and test", 1)[1].split("\n## ", 1)[0]


def test_readme_test_command_leaves_out_e2e_and_says_how_to_run_them() -> None:
    section = _install_and_test()
    first = re.search(r"```\n(.*?)```", section, re.S).group(1)
    assert 'python -m pytest -q -m "not e2e"' in first.splitlines()
    assert re.search(r"20 to 45 minutes", section) and "python -m pytest -q -m e2e" in section
    assert "local_models.py setup" in section


def test_ci_runs_the_readmes_command() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    commands = [ln.strip() for ln in ci.splitlines() if ln.strip().startswith("python -m pytest")]
    assert commands[0] == 'python -m pytest -q -m "not e2e"'
    assert "python -m pytest -q -m e2e" in commands[1:]


def test_dev_extra_has_what_the_tests_import() -> None:
    dev = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    names = {re.split(r"[<>=\[ ]", d, 1)[0].lower() for d in dev}
    assert {"jsonschema", "pytest", "hypothesis", "pyyaml"} <= names
