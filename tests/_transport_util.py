"""The transport helpers' old names, kept for tests/probing/test_pacing.py only: that file is
edited on another branch and imports them from here. Everything lives in tests/factory.py; once
test_pacing.py imports from there (``probe_set`` for ``write_probeset``), delete this module."""

from __future__ import annotations

from pathlib import Path

from provenance.probes import ProbeSet

from factory import CHAT_TOML, STREAM_TOML, fast_settings, free_port, many_probes_toml, probe_set  # noqa: F401
from factory import TRANSPORT_PROBES as PROBES_TOML


def write_probeset(root: Path, probes_toml: str = PROBES_TOML) -> ProbeSet:
    return probe_set(root, probes_toml)


def one_probe_set(root: Path, name: str, toml: str) -> ProbeSet:
    """A probe set of ``toml`` in its own folder ``root/name``."""
    return probe_set(root / name, toml)
