from __future__ import annotations

from pathlib import Path

import pytest

from provenance.errors import ProbeFileError
from provenance.probes import load_probeset


def test_load_tiny(tiny_probes: Path) -> None:
    ps = load_probeset(tiny_probes)
    assert ps.name == "tiny" and len(ps.probes) == 3
    assert ps.hash.startswith("sha256:") and len(ps.hash) == 71
    assert ps.get("style.haiku").stream is True
    assert ps.by_corpus()["alpaca_eval:1"].id == "style.haiku"


def test_hash_changes_with_any_probe(tiny_probes: Path) -> None:
    h1 = load_probeset(tiny_probes).hash
    f = tiny_probes / "tiny.toml"
    f.write_text(f.read_text().replace("rivers", "lakes"))
    assert load_probeset(tiny_probes).hash != h1


def test_hash_independent_of_file_order(tiny_probes: Path) -> None:
    h1 = load_probeset(tiny_probes).hash
    text = (tiny_probes / "tiny.toml").read_text()
    first, _, rest = text.partition("[[probe]]\nid = \"style.haiku\"")
    (tiny_probes / "tiny.toml").unlink()
    (tiny_probes / "a.toml").write_text("[[probe]]\nid = \"style.haiku\"" + rest)
    (tiny_probes / "b.toml").write_text(first)
    assert load_probeset(tiny_probes).hash == h1


@pytest.mark.parametrize("body, msg", [
    ("[[probe]]\nid = 'x'\nfamily = 'nope'\nmessages=[{role='user',content='a'}]", "family"),
    ("[[probe]]\nid = 'x'\nfamily = 'api'\nmessages=[]", "messages"),
    ("[[probe]]\nid = 'x'\nfamily = 'api'\nmessages=[{role='robot',content='a'}]", "role"),
    ("[[probe]]\nid = 'x'\nfamily = 'api'\nmax_tokens = 0\nmessages=[{role='user',content='a'}]", "max_tokens"),
    ("[[probe]]\nid = 'x'\nfamily = 'style'\nmessages=[{role='user',content='a'}]", "corpus"),
    ("[[probe]]\nid = 'x'\nfamily = 'api'\nbogus = 1\nmessages=[{role='user',content='a'}]", "unknown field"),
    ("[[probe]\nid=", "invalid TOML"),
    ("probe = 3", "array of tables"),
])
def test_bad_probe_files(tiny_probes: Path, body: str, msg: str) -> None:
    (tiny_probes / "zz.toml").write_text(body)
    with pytest.raises(ProbeFileError, match=msg):
        load_probeset(tiny_probes)


def test_duplicate_ids(tiny_probes: Path) -> None:
    (tiny_probes / "dup.toml").write_text((tiny_probes / "tiny.toml").read_text())
    with pytest.raises(ProbeFileError, match="duplicate"):
        load_probeset(tiny_probes)


def test_missing_meta_and_dir(tmp_path: Path) -> None:
    with pytest.raises(ProbeFileError, match="not a directory"):
        load_probeset(tmp_path / "nope")
    with pytest.raises(ProbeFileError, match="probeset.toml"):
        load_probeset(tmp_path)


def test_not_utf8(tiny_probes: Path) -> None:
    (tiny_probes / "bin.toml").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ProbeFileError, match="UTF-8"):
        load_probeset(tiny_probes)


def test_newer_schema_refused(tiny_probes: Path) -> None:
    (tiny_probes / "probeset.toml").write_text('schema_version = 99\nname="t"\nversion="1"\n')
    with pytest.raises(ProbeFileError, match="newer"):
        load_probeset(tiny_probes)


def test_shipped_probeset_loads() -> None:
    ps = load_probeset()
    assert ps.probes
    for p in ps.probes:
        assert p.family in ("identity", "refusal", "cutoff", "tokenizer", "style", "api")
