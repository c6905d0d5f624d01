"""Property tests: random and mutated input to the parsers of reports and probe files.

Whatever arrives, the parser either accepts it or raises the tool's own
ConfigError (a one-line message, exit code 2): never another exception.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.errors import ConfigError
from provenance.probes import load_probeset
from provenance.report import check_report, read_report, transcript_from_report

from factory import probe_dir

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30)

VALID = {"schema_version": 1, "target": {"base_url": "http://h/v1", "protocol": "openai", "model": "m"},
         "probeset": {"name": "p", "version": "1", "hash": "sha256:0"},
         "probes": [{"probe_id": "identity.a", "family": "identity", "status": "ok", "text": "hi",
                     "chunks": ["h", "i"], "usage": {"prompt_tokens": 3}, "headers": {}}]}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(doc=json_values)
def test_random_json_reports(doc: object) -> None:
    try:
        checked = check_report(doc)
    except ConfigError:
        return
    transcript_from_report(checked)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.lists(st.sampled_from(["target", "probeset", "probes", 0, "probe_id", "family", "text",
                                      "chunks", "usage", "headers", "status", "schema_version"]),
                     min_size=1, max_size=3),
       value=json_values)
def test_mutated_valid_report(path: list, value: object) -> None:
    doc = json.loads(json.dumps(VALID))
    node = doc
    for key in path[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return
    try:
        node[path[-1]] = value
    except (IndexError, TypeError):
        return
    try:
        checked = check_report(doc)
    except ConfigError:
        return
    transcript_from_report(checked)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300))
def test_random_bytes_as_report_file(raw: bytes, tmp_path: Path) -> None:
    f = tmp_path / "r.json"
    f.write_bytes(raw)
    try:
        read_report(f)
    except ConfigError:
        pass


GOOD_PROBE = '''[[probe]]
id = "identity.who"
family = "identity"
corpus = "model_name_identity:identity:1"
messages = [{ role = "user", content = "Who made you?" }]
max_tokens = 64
'''


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(pos=st.integers(min_value=0, max_value=len(GOOD_PROBE)), cut=st.integers(min_value=0, max_value=12),
       insert=st.text(max_size=12))
def test_mutated_probe_files(pos: int, cut: int, insert: str, tmp_path: Path) -> None:
    text = GOOD_PROBE[:pos] + insert + GOOD_PROBE[pos + cut:]
    d = probe_dir(tmp_path, text, name="t", folder="set")
    try:
        ps = load_probeset(d)
    except ConfigError:
        return
    assert ps.hash.startswith("sha256:")


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_random_bytes_as_probe_file(raw: bytes, tmp_path: Path) -> None:
    d = probe_dir(tmp_path, raw, name="t", folder="set2")
    try:
        load_probeset(d)
    except ConfigError:
        pass
