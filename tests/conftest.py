"""Shared test fixtures. Tests never reach outside this machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _alias_moved_modules() -> None:
    """The module paths issue 22 retired, importable for tests/test_pacing.py only.

    That file is being edited on another branch and still imports ``provenance.pacing``,
    ``provenance.runner``, ``provenance.pipeline`` and ``provenance.lost``; once its imports
    name ``provenance.probing.*`` and ``provenance.attribute``, delete this function. The
    package itself has no second name for any module.
    """
    import importlib
    import sys

    import provenance

    for old, new in (("pacing", "provenance.probing.pacing"), ("runner", "provenance.probing.one_target"),
                     ("pipeline", "provenance.attribute"), ("lost", "provenance.probing.lost")):
        module = importlib.import_module(new)
        sys.modules.setdefault(f"provenance.{old}", module)
        setattr(provenance, old, module)


_alias_moved_modules()

REFERENCE = Path(os.environ.get("PROVENANCE_REFERENCE",
                                Path(__file__).resolve().parents[2] / "shared" / "reference"))


@pytest.fixture
def reference_dir() -> Path:
    """The shared reference corpus; tests that need it skip cleanly where it is absent."""
    if not (REFERENCE / "responses.jsonl.gz").is_file():
        pytest.skip(f"reference corpus not found at {REFERENCE}")
    return REFERENCE


TINY_PROBESET = '''
schema_version = 1
name = "tiny"
version = "0.0.1"
'''

TINY_PROBES = '''
[[probe]]
id = "identity.who"
family = "identity"
corpus = "model_name_identity:identity:4354982324"
messages = [{ role = "user", content = "Tell me your exact model name, version, and who made you." }]
max_tokens = 64

[[probe]]
id = "style.haiku"
family = "style"
corpus = "alpaca_eval:1"
stream = true
messages = [{ role = "user", content = "Write a haiku about rivers." }]
max_tokens = 64

[[probe]]
id = "tokenizer.digits"
family = "tokenizer"
mode = "count"
text = "1234567 89"
messages = [{ role = "user", content = "1234567 89" }]
max_tokens = 1
'''


@pytest.fixture
def tiny_probes(tmp_path: Path) -> Path:
    """A three-probe set in a temp dir, independent of the shipped probes/."""
    d = tmp_path / "probes"
    d.mkdir()
    (d / "probeset.toml").write_text(TINY_PROBESET)
    (d / "tiny.toml").write_text(TINY_PROBES)
    return d
