"""scripts/local_models.py serve on a busy port (issue 36 item 1): it refuses the port, and it
accepts a server only when the process it started is the one answering, with the model asked for.

A stand-in for llama-server (a small script taking llama-server's -a/--port options) is put in
a temporary cache as the built binary, beside a verified (sparse) model file, so these tests run
without the real build; the occupied port is a real loopback server.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from provenance.testing.fakeserver import FakeLLMServer

from factory import REPO, free_port

sys.path.insert(0, str(REPO / "scripts"))
import local_models  # noqa: E402

NAME = "smollm2-135m"
OTHER = "qwen2.5-coder-0.5b"

FAKE_LLAMA_SERVER = textwrap.dedent('''\
    #!{python}
    """Stands in for llama-server: binds --port (or dies as llama-server does), answers /health
    and /v1/models with the alias (or $FAKE_LLAMA_MODEL); $FAKE_LLAMA_NO_BIND: stays up, binds nothing."""
    import json, os, sys, time
    from http.server import BaseHTTPRequestHandler, HTTPServer
    args = sys.argv[1:]
    alias = args[args.index("-a") + 1]
    port = int(args[args.index("--port") + 1])
    model = os.environ.get("FAKE_LLAMA_MODEL") or alias
    if os.environ.get("FAKE_LLAMA_NO_BIND"):
        time.sleep(600)
        sys.exit(0)

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            if self.path == "/health":
                body = b'{{"status":"ok"}}'
            elif self.path == "/v1/models":
                body = json.dumps({{"object": "list", "data": [{{"id": model}}],
                                   "models": [{{"name": model, "model": model}}]}}).encode()
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    try:
        srv = HTTPServer(("127.0.0.1", port), H)
    except OSError:
        print("couldn't bind HTTP server socket, hostname: 127.0.0.1, port: %d" % port, flush=True)
        sys.exit(1)
    srv.serve_forever()
''')


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache whose 'built' llama-server is the stand-in and whose model file is 'verified'."""
    c = tmp_path / "cache"
    monkeypatch.setenv("PROVENANCE_E2E_CACHE", str(c))
    (c / "venv").mkdir(parents=True)
    binary = c / "venv" / "llama-server"
    binary.write_text(FAKE_LLAMA_SERVER.format(python=sys.executable))
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    (c / "venv" / "llama-server.path").write_text(str(binary))
    spec = local_models.MODELS[NAME]
    model = local_models.model_path(NAME, c)
    model.parent.mkdir(parents=True)
    with open(model, "wb") as f:
        f.truncate(spec.size)                  # sparse: the size the stamp pins, no disk used
    st = model.stat()
    model.with_name(model.name + ".verified").write_text(
        json.dumps({"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    assert local_models.server_binary(c) == binary and local_models.model_ready(NAME, c)
    yield c
    local_models.cmd_stop(None)


def _lm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "local_models.py"), *args],
                          capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def _models(base_url: str) -> list[str]:
    return [m["id"] for m in httpx.get(base_url + "/models", timeout=10).json()["data"]]


def test_serve_refuses_a_port_another_server_holds(cache: Path) -> None:
    """The issue's case: the disguise proxy's port given to SmolLM2. Before: exit 0 and a URL that
    answered as the other model."""
    with FakeLLMServer(model=OTHER, models=(OTHER,)) as other:
        port = other.port
        p = _lm("serve", NAME, "--port", str(port))
        assert p.returncode == 2, (p.stdout, p.stderr)
        assert p.stdout == ""                                   # no URL printed
        err = p.stderr.strip()
        assert err.startswith("local_models: error:") and len(err.splitlines()) == 1
        assert f"port {port} is already in use" in err and "--port" in err
        assert not local_models._run_file(NAME).exists()        # nothing recorded as served
        assert _models(other.base_url) == [OTHER]               # the other server is untouched
        # the same with a system prompt: the proxy's port is checked too
        p = _lm("serve", NAME, "--port", str(port), "--system-prompt", "You are Zeus.")
        assert p.returncode == 2 and f"port {port} is already in use" in p.stderr
        assert not local_models._run_file(NAME).exists()


def test_serve_on_a_free_port_answers_with_its_model(cache: Path) -> None:
    port = free_port()
    p = _lm("serve", NAME, "--port", str(port))
    assert p.returncode == 0, p.stderr
    url = p.stdout.strip()
    assert url == f"http://127.0.0.1:{port}/v1" and _models(url) == [NAME]
    info = json.loads(local_models._run_file(NAME).read_text())
    assert local_models.listener_is(info["server_pids"][0], port) is True
    # served again on the same port: reused, not refused as busy
    assert _lm("serve", NAME, "--port", str(port)).stdout.strip() == url
    assert _lm("stop", NAME).returncode == 0
    assert not local_models.port_in_use(port)


def test_another_process_answering_on_the_port_is_not_taken_for_the_server(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The port is taken after the check (a race), while the started server has not bound it:
    the readiness check sees a 200 from someone else and must not accept it."""
    monkeypatch.setattr(local_models, "port_in_use", lambda port, host="127.0.0.1": False)
    monkeypatch.setenv("FAKE_LLAMA_NO_BIND", "1")
    with FakeLLMServer(model=NAME, models=(NAME,)) as other:     # even one listing the same model
        with pytest.raises(local_models.SetupError, match="answered by another process"):
            local_models.start_server(NAME, other.port, timeout=60)
    monkeypatch.delenv("FAKE_LLAMA_NO_BIND")
    # the started server dies on bind: refused whichever is seen first, the death or the stranger
    with FakeLLMServer(model=OTHER, models=(OTHER,)) as other:
        with pytest.raises(local_models.SetupError, match="could not bind its port|answered by another process"):
            local_models.start_server(NAME, other.port, timeout=60)


def test_a_server_that_serves_another_model_is_refused(cache: Path) -> None:
    port = free_port()
    p = _lm("serve", NAME, "--port", str(port), env={"FAKE_LLAMA_MODEL": OTHER})
    assert p.returncode == 2 and f"serves '{OTHER}', not '{NAME}'" in p.stderr, p.stderr
    assert not local_models._run_file(NAME).exists()
    assert not local_models.port_in_use(port)                   # the process started was stopped


def test_port_in_use_sees_a_bare_listening_socket() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert local_models.port_in_use(port)
        assert local_models.listener_is(os.getpid(), port) is True
    assert not local_models.port_in_use(port)
