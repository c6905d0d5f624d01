"""Shared test fixtures, built on tests/factory.py. Tests never reach outside this machine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from provenance.testing.fakeserver import FakeLLMServer

from factory import CHAT_TOML, STREAM_TOML, TINY_PROBES, probe_dir, probe_set, write_scan_probes


REFERENCE = Path(os.environ.get("PROVENANCE_REFERENCE",
                                Path(__file__).resolve().parents[2] / "shared" / "reference"))


@pytest.fixture
def reference_dir() -> Path:
    """The shared reference corpus; tests that need it skip cleanly where it is absent."""
    if not (REFERENCE / "responses.jsonl.gz").is_file():
        pytest.skip(f"reference corpus not found at {REFERENCE}")
    return REFERENCE


@pytest.fixture
def tiny_probes(tmp_path: Path) -> Path:
    """A three-probe set (factory.TINY_PROBES as tiny.toml) in a temp dir, independent of the shipped probes/."""
    return probe_dir(tmp_path, TINY_PROBES, name="tiny", version="0.0.1", file="tiny.toml")


@pytest.fixture
def probes_dir(tmp_path: Path) -> Path:
    """The CLI tests' three-probe set (factory.SCAN_PROBES) in ``tmp_path/probes``."""
    return write_scan_probes(tmp_path / "probes")


@pytest.fixture
def chat(tmp_path: Path) -> Any:
    """One non-streamed chat probe (``CHAT_TOML``), for the transport and pacing tests."""
    return probe_set(tmp_path / "c", CHAT_TOML)


@pytest.fixture
def stream(tmp_path: Path) -> Any:
    """One streamed count probe (``STREAM_TOML``), for the transport and pacing tests."""
    return probe_set(tmp_path / "s", STREAM_TOML)


@pytest.fixture
def servers() -> Iterator[Callable[..., FakeLLMServer]]:
    """Start fake LLM servers that stop when the test ends: ``srv = servers(answer_fn=..., latency=...)``
    (the arguments are FakeLLMServer's)."""
    started: list[FakeLLMServer] = []

    def start(**kw: Any) -> FakeLLMServer:
        srv = FakeLLMServer(**kw).start()
        started.append(srv)
        return srv

    try:
        yield start
    finally:
        for srv in started:
            srv.stop()
