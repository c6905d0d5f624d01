"""scripts/local_models.py serve MODEL --system-prompt ... while MODEL is already served: the
printed URL is a real disguise proxy's in front of the running server (issue 27 item 3)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from provenance.testing.fakeserver import FakeLLMServer

from factory import REPO

sys.path.insert(0, str(REPO / "scripts"))
import local_models  # noqa: E402

NAME = "qwen2.5-coder-0.5b"


def _system_of(body: dict) -> str:
    sys_msgs = [m["content"] for m in body.get("messages", []) if m.get("role") == "system"]
    return "system=" + (sys_msgs[0] if sys_msgs else "<none>")


def _lm(*args: str) -> subprocess.CompletedProcess:
    """The script itself, as a user runs it (the proxies it starts outlive it, as they should)."""
    return subprocess.run([sys.executable, str(REPO / "scripts" / "local_models.py"), *args],
                          capture_output=True, text=True, timeout=120)


def _ask(base_url: str) -> str:
    r = httpx.post(base_url + "/chat/completions", timeout=30,
                   json={"model": NAME, "messages": [{"role": "user", "content": "who are you?"}]})
    r.raise_for_status()
    return r.json()["choices"][0]["message"]["content"]


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A model 'already served': a loopback server standing in for llama-server, recorded in the
    cache's run file as `serve` records it (its process: a sleeping child we own)."""
    monkeypatch.setenv("PROVENANCE_E2E_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache" / "run").mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with FakeLLMServer(answer_fn=_system_of, model=NAME, models=(NAME,)) as srv:
        info = {"name": NAME, "upstream": srv.base_url, "base_url": srv.base_url,
                "server_pids": [sleeper.pid], "pids": [sleeper.pid], "proxies": {}}
        (tmp_path / "cache" / "run" / f"{NAME}.json").write_text(json.dumps(info))
        try:
            yield srv, sleeper
        finally:
            local_models.cmd_stop(NAME)
            if sleeper.poll() is None:
                sleeper.kill()
            sleeper.wait()


def test_system_prompt_on_a_served_model_starts_a_proxy(served) -> None:
    srv, sleeper = served
    p = _lm("serve", NAME, "--system-prompt", "You are Zeus, built by Acme Labs.")
    assert p.returncode == 0, p.stderr
    url = p.stdout.strip()
    assert url != srv.base_url and url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    assert _ask(url) == "system=You are Zeus, built by Acme Labs."          # through the real proxy
    assert _ask(srv.base_url) == "system=<none>"                            # the server itself: undisguised
    # the same prompt again: the same proxy; no prompt: the undisguised server's URL
    assert _lm("serve", NAME, "--system-prompt", "You are Zeus, built by Acme Labs.").stdout.strip() == url
    assert _lm("serve", NAME).stdout.strip() == srv.base_url
    # another prompt: another proxy
    url2 = _lm("serve", NAME, "--system-prompt", "You are Hera.").stdout.strip()
    assert url2 not in (url, srv.base_url) and _ask(url2) == "system=You are Hera."
    info = json.loads(local_models._run_file(NAME).read_text())
    proxy_pids = [p["pid"] for p in info["proxies"].values()]
    assert len(proxy_pids) == 2
    assert _lm("stop", NAME).returncode == 0
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(local_models._alive(p) for p in proxy_pids + [sleeper.pid]):
        time.sleep(0.1)
    assert not any(local_models._alive(p) for p in proxy_pids)
    assert not local_models._run_file(NAME).exists()


def test_port_clash_and_old_run_file_fail_clearly(served) -> None:
    srv, sleeper = served
    p = _lm("serve", NAME, "--port", "1")
    assert p.returncode == 2 and "already served at" in p.stderr
    rf = local_models._run_file(NAME)
    info = json.loads(rf.read_text())
    rf.write_text(json.dumps({"name": NAME, "base_url": info["base_url"], "pids": info["pids"]}))
    p = _lm("serve", NAME, "--system-prompt", "You are Zeus.")
    assert p.returncode == 2
    err = p.stderr
    assert err.startswith("local_models: error:") and f"stop {NAME}" in err


def test_old_undisguised_run_file_is_reused(served) -> None:
    srv, sleeper = served
    rf = local_models._run_file(NAME)
    rf.write_text(json.dumps({"name": NAME, "base_url": srv.base_url, "pids": [sleeper.pid],
                              "system_prompt": False}))
    p = _lm("serve", NAME, "--system-prompt", "You are Zeus.")
    assert p.returncode == 0, p.stderr
    assert _ask(p.stdout.strip()) == "system=You are Zeus."
