"""Entrants files: YAML, JSON, CSV; every problem is a one-line ConfigError naming where."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.probing.entrants import load_entrants, parse_entrants
from provenance.errors import ConfigError

YAML_OK = """\
# leaderboard
entrants:
  - name: team-a
    base_url: http://127.0.0.1:8001/v1
    model: a-large
  - name: team-b
    base_url: https://b.example.com
    model: b
    protocol: anthropic
    headers: {X-Team: b}
"""


def test_yaml_ok(tmp_path):
    p = tmp_path / "e.yaml"
    p.write_text(YAML_OK)
    es = load_entrants(p)
    assert [e.name for e in es] == ["team-a", "team-b"]
    assert es[0].target.base_url == "http://127.0.0.1:8001/v1"
    assert es[1].target.protocol == "anthropic"
    assert es[1].target.headers == {"X-Team": "b"}
    assert es[1].target.name == "team-b"


def test_json_and_csv_ok(tmp_path):
    j = tmp_path / "e.json"
    j.write_text(json.dumps([{"name": "x", "base_url": "http://127.0.0.1:1/v1", "model": "m"}]))
    assert load_entrants(j)[0].target.model == "m"
    c = tmp_path / "e.csv"
    c.write_text("name,base_url,model,protocol,headers\n# comment\n"
                 "x,http://127.0.0.1:1/v1,m,,X-A: 1; X-B: 2\ny,http://127.0.0.1:2/v1,m2,anthropic,\n")
    es = load_entrants(c)
    assert [e.name for e in es] == ["x", "y"]
    assert es[0].target.headers == {"X-A": "1", "X-B": "2"}
    assert es[1].target.protocol == "anthropic"


@pytest.mark.parametrize("text,fragment", [
    ("- {name: a, base_url: 'ftp://x', model: m}\n", "e.yaml:1 (entrant 'a')"),
    ("- {name: a, base_url: 'http://x/v1'}\n", "missing field 'model'"),
    ("- {name: a, base_url: 'http://x/v1', model: m}\n- {name: a, base_url: 'http://y/v1', model: m}\n",
     "e.yaml:2: duplicate entrant name 'a' (first at line 1)"),
    ("- {name: a, base_url: 'http://x/v1', model: m, modle: z}\n", "unknown field 'modle'"),
    ("- {name: a, base_url: 'http://x/v1', model: m, protocol: grpc}\n", "field 'protocol'"),
    ("- {name: a, base_url: 'http://x/v1', model: m, api_key_env: NOPE_NOT_SET_123}\n",
     "NOPE_NOT_SET_123 (field 'api_key_env') is not set"),
    ("- {name: a, base_url: 'http://x/v1', model: m, api_key_env: 'sk-abc def'}\n", "field 'api_key_env'"),
    ("- {name: a, base_url: 'http://x/v1', model: m, headers: {Authorization: 'Bearer x'}}\n", "credentials"),
    ("- {name: a, base_url: 'http://u:p@x/v1', model: m}\n", "credentials in the URL"),
    ("- {name: a, base_url: 'http://[::1/v1', model: m}\n", "field 'base_url'"),
    ("- {name: 3, base_url: 'http://x/v1', model: m}\n", "field 'name' must be a string"),
    ("[]\n", "no entrants"),
    ("a: [\n", "invalid YAML"),
    ("just a string\n", "expected a list"),
])
def test_yaml_errors(tmp_path, text, fragment):
    p = tmp_path / "e.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as ei:
        load_entrants(p)
    msg = str(ei.value)
    assert fragment in msg
    assert "\n" not in msg


def test_csv_errors(tmp_path):
    p = tmp_path / "e.csv"
    p.write_text("name,base_url,model,colour\nx,http://a/v1,m,red\n")
    with pytest.raises(ConfigError, match="unknown column 'colour'"):
        load_entrants(p)
    p.write_text("name,base_url,model\nx,http://a/v1,m\ny,http://b/v1\n")
    with pytest.raises(ConfigError, match=r"e.csv:3: expected 3 fields"):
        load_entrants(p)
    p.write_text("name,base_url,model\nx,http://a/v1,\n")
    with pytest.raises(ConfigError, match=r"e.csv:2 .*missing field 'model'"):
        load_entrants(p)


def test_json_error_names_entry(tmp_path):
    p = tmp_path / "e.json"
    p.write_text(json.dumps({"entrants": [{"name": "ok", "base_url": "http://a/v1", "model": "m"},
                                          {"name": "bad", "base_url": "nope", "model": "m"}]}))
    with pytest.raises(ConfigError, match=r"entry #2 \(entrant 'bad'\).*no scheme"):
        load_entrants(p)
    p.write_text("[{")
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_entrants(p)


def test_unreadable_and_binary(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_entrants(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_entrants(tmp_path)
    p = tmp_path / "e.yaml"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_entrants(p)


def test_key_env_set_is_accepted_and_never_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("ENTRANT_KEY_X", "sk-test-very-secret-9999")
    p = tmp_path / "e.yaml"
    p.write_text("- {name: a, base_url: 'http://x/v1', model: m, api_key_env: ENTRANT_KEY_X}\n")
    e = load_entrants(p)[0]
    assert e.target.api_key_env == "ENTRANT_KEY_X"
    assert "sk-test" not in json.dumps(e.target.public())


# ---------------------------------------------------------------- property test

_VALID = [
    {"name": "a", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
    {"name": "b", "base_url": "https://x.example/v1", "model": "m2", "protocol": "anthropic",
     "headers": {"X-A": "1"}},
]
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30),
                     st.sampled_from(["http://", "http://[::1", "ftp://x", "openai", "anthropic", "", " ",
                                      "a\nb", "http://h:99999/v1", "http://h:-1/", "\x00", "héader", "KEY"]))
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                          st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                       max_leaves=8)
_keys = st.sampled_from(["name", "base_url", "model", "protocol", "api_key_env", "headers", "x", ""])
_entry = st.one_of(st.dictionaries(_keys, _values, max_size=7), _values,
                   st.builds(lambda base, k, v: {**base, k: v}, st.sampled_from(_VALID), _keys, _values))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_entry, max_size=4), st.sampled_from(["yaml", "json"]))
def test_structured_mutations_only_config_errors(entries, fmt):
    text = json.dumps(entries, default=str) if fmt == "json" else _to_yaml(entries)
    try:
        out = parse_entrants(text, f"e.{fmt}", fmt=fmt)
    except ConfigError as e:
        assert "\n" not in str(e)
        return
    assert all(e.target.base_url.startswith(("http://", "https://")) for e in out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300), st.sampled_from(["yaml", "json", "csv", None]))
def test_random_text_only_config_errors(text, fmt):
    try:
        parse_entrants(text, "e.txt", fmt=fmt)
    except ConfigError as e:
        assert "\n" not in str(e)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(YAML_OK) - 1), st.text(max_size=6), st.integers(0, 6))
def test_mutated_yaml_only_config_errors(pos, insert, cut):
    text = YAML_OK[:pos] + insert + YAML_OK[pos + cut:]
    try:
        parse_entrants(text, "e.yaml")
    except ConfigError as e:
        assert "\n" not in str(e)


def _to_yaml(obj):
    import yaml
    try:
        return yaml.safe_dump(obj, allow_unicode=True)
    except yaml.YAMLError:
        return json.dumps(obj, default=str)


def test_operator_default_key_not_given_to_entrants(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-own-key")
    p = tmp_path / "e.yaml"
    p.write_text("- {name: a, base_url: 'http://x/v1', model: m}\n")
    t = load_entrants(p)[0].target
    assert t.api_key_env is None and t.api_key() is None
