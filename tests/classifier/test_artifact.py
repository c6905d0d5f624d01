"""Artifact I/O: round trip, tamper, truncation, missing files, wrong probe-set hash, newer schema."""

from __future__ import annotations

import json

import numpy as np
import pytest

from provenance.classifier.artifact import ARRAYS, MANIFEST, load_artifact, write_artifact
from provenance.errors import ArtifactError
from provenance.probes import load_probeset


@pytest.fixture
def art(tmp_path, tiny_probes):
    ps = load_probeset(tiny_probes)
    arrays = {"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.array([1, 2, 3], dtype=np.int32)}
    d = write_artifact(tmp_path / "m", arrays, {"labels": ["X", "Y"]}, ps)
    return d, ps


def test_round_trip(art):
    d, ps = art
    m, arrays = load_artifact(d, ps)
    assert m["labels"] == ["X", "Y"]
    assert m["probeset"]["hash"] == ps.hash
    assert np.array_equal(arrays["a"], np.arange(12, dtype=np.float32).reshape(3, 4))
    assert arrays["b"].dtype == np.int32


def test_tampered_arrays(art):
    d, ps = art
    raw = bytearray((d / ARRAYS).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (d / ARRAYS).write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match="checksum"):
        load_artifact(d, ps)


def test_truncated_arrays(art):
    d, ps = art
    raw = (d / ARRAYS).read_bytes()
    (d / ARRAYS).write_bytes(raw[: len(raw) // 3])
    with pytest.raises(ArtifactError):
        load_artifact(d, ps)


def test_truncated_manifest(art):
    d, ps = art
    txt = (d / MANIFEST).read_text()
    (d / MANIFEST).write_text(txt[: len(txt) // 2])
    with pytest.raises(ArtifactError, match="manifest"):
        load_artifact(d, ps)


def test_missing_files(art):
    d, ps = art
    (d / ARRAYS).unlink()
    with pytest.raises(ArtifactError, match="missing"):
        load_artifact(d, ps)
    with pytest.raises(ArtifactError):
        load_artifact(d.parent / "nowhere", ps)


def test_wrong_probeset_hash(art, tiny_probes):
    d, _ = art
    (tiny_probes / "tiny.toml").write_text((tiny_probes / "tiny.toml").read_text().replace("rivers", "lakes"))
    other = load_probeset(tiny_probes)
    with pytest.raises(ArtifactError, match="probe set"):
        load_artifact(d, other)


def test_newer_schema(art):
    d, ps = art
    m = json.loads((d / MANIFEST).read_text())
    m["schema_version"] = 999
    (d / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(ArtifactError, match="newer"):
        load_artifact(d, ps)


def test_error_is_one_line(art):
    d, ps = art
    (d / ARRAYS).write_bytes(b"garbage")
    with pytest.raises(ArtifactError) as e:
        load_artifact(d, ps)
    assert "\n" not in str(e.value)


def test_bad_corpus_files_are_config_errors(tmp_path) -> None:
    """Unreadable corpus files give one-line ConfigErrors (exit 2), never another exception."""
    import gzip

    import pytest

    from provenance.training.corpus import load_records
    from provenance.errors import ConfigError

    d = tmp_path / "c"
    d.mkdir()
    f = d / "responses.jsonl.gz"
    for raw in (b"garbage, not gzip", gzip.compress(b'{"source": "a", "model": "m"}\n'),
                gzip.compress(b"[1, 2]\n"), gzip.compress(b'{"source":"a","model":"m","creator":"c",'
                                                              b'"prompt_id":"1","response":"x"}\n')[:30],
                gzip.compress(b"\xff\xfe not utf-8\n")):
        f.write_bytes(raw)
        with pytest.raises(ConfigError):
            load_records(d)
