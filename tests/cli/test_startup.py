"""`provenance --help` starts without typer: the stored text is the app's own rendering.

The speed itself is a benchmark's (``benchmarks/bench_startup.py``: within 0.1 s of bare
Python); here, what makes it fast and what keeps it right."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = ("import sys; from provenance.cli import main\n"
         "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
         "print('IMPORTED', sorted(m for m in ('typer', 'click', 'rich', 'httpx', 'numpy') if m in sys.modules),"
         " file=sys.stderr)\nraise SystemExit(code)")


def run(*args: str, columns: str = "100") -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS=columns, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=60)


def test_stored_help_is_what_the_app_renders():
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_cli_help.py"), "--check"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def test_help_imports_no_heavy_module():
    from provenance.cli.help_text import TOP_HELP
    for flag in ("--help", "-h"):
        p = run(flag)
        assert p.returncode == 0 and p.stdout == TOP_HELP
        assert "IMPORTED []" in p.stderr, p.stderr
    p = run()                                        # no arguments: the help, as a usage error
    assert p.returncode == 2 and p.stdout == "" and p.stderr.startswith(TOP_HELP)
    p = run("--version")
    assert p.returncode == 0 and p.stdout.strip().startswith("provenance ") and "IMPORTED []" in p.stderr


def test_a_narrow_terminal_gets_the_app_itself():
    # the stored text is wrapped for 80 columns: a narrower terminal is served by typer
    p = run("--help", columns="60")
    assert p.returncode == 0 and "Commands:" in p.stdout and "'typer'" in p.stderr
    assert max(len(line) for line in p.stdout.splitlines()) <= 60


def test_commands_still_parse():
    p = run("probes", "--help")
    assert p.returncode == 0 and "Usage: " in p.stdout and "'typer'" in p.stderr
