from __future__ import annotations

import pytest

from provenance.errors import ConfigError
from provenance.settings import make_target, redact_url


@pytest.mark.parametrize("url, msg", [
    ("127.0.0.1:8080/v1", "scheme"),
    ("ftp://example.com/v1", "not supported"),
    ("file:///etc/passwd", "not supported"),
    ("http://", "no host"),
    ("http://user:pw@example.com/v1", "credentials"),
    ("http://example.com:99999/v1", "port"),
    ("", "empty"),
    ("http://[::1", "malformed"),
    ("http://[::1]:80/v1 x", None),
])
def test_bad_urls(url: str, msg: str | None) -> None:
    if msg is None:  # accepted or refused, but never anything but ConfigError
        try:
            make_target(url, "m")
        except ConfigError:
            pass
        return
    with pytest.raises(ConfigError, match=msg):
        make_target(url, "m")


def test_protocol_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="unknown protocol"):
        make_target("http://h/v1", "m", protocol="grpc")
    monkeypatch.delenv("NOPE_KEY", raising=False)
    with pytest.raises(ConfigError, match="NOPE_KEY is not set"):
        make_target("http://h/v1", "m", api_key_env="NOPE_KEY")
    monkeypatch.setenv("MY_KEY", "sk-secret-123")
    t = make_target("http://h/v1/", "m", api_key_env="MY_KEY")
    assert t.base_url == "http://h/v1" and t.api_key() == "sk-secret-123"
    assert "sk-secret-123" not in str(t.public())


def test_default_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "x")
    assert make_target("https://api.anthropic.com", "c", protocol="anthropic").api_key_env == "ANTHROPIC_API_KEY"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert make_target("http://h/v1", "m").api_key_env is None


def test_redact_url() -> None:
    assert redact_url("https://u:p@h.example:8443/v1?key=abc") == "https://h.example:8443/v1"
