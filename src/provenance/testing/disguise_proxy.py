"""A loopback proxy that disguises a model behind a hidden system prompt.

This is how a model is usually "rebranded" in practice: the operator puts a
gateway in front of an OpenAI-compatible server and the gateway injects its own
system message ("You are Zeus, built by Acme Labs ...") that the client never
sees. The tool must still attribute the model behind it; end-to-end tests use
this proxy to build exactly that situation against a real llama.cpp server.

Behaviour:

* ``POST /v1/chat/completions``: the JSON body's ``messages`` get the proxy's
  system message: a leading client ``system`` message is replaced by it, and
  otherwise it is prepended. Everything else in the body is forwarded unchanged.
* ``GET /v1/models``: forwarded.
* Any other path: 404 (a real gateway exposes only what it must).
* Responses: status and headers passed through (hop-by-hop headers excepted,
  ``Server`` included); bodies are streamed through as they arrive, so SSE
  streams keep their chunking and timing.
* ``model_alias`` (optional): ``/v1/models`` ids and the ``model`` field of
  replies (also inside SSE events) are rewritten to the alias.
* The client's ``Authorization`` is not forwarded (the upstream is the
  operator's own); nothing is logged.

Standard library only (threaded ``http.server`` + ``http.client``)::

    with DisguiseProxy("http://127.0.0.1:8080/v1", "You are Zeus ...") as proxy:
        proxy.base_url      # http://127.0.0.1:PORT/v1

    python -m provenance.testing.disguise_proxy --upstream http://127.0.0.1:8080/v1 \\
        --system-prompt "You are Zeus ..." --port 9000
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = ["DisguiseProxy", "inject_system", "main"]

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "trailers", "transfer-encoding", "upgrade", "content-length", "host"}
NOT_FORWARDED = HOP_BY_HOP | {"authorization", "x-api-key", "accept-encoding", "cookie"}
MAX_REQUEST_BYTES = 8_000_000


def inject_system(body: Any, system_prompt: str) -> Any:
    """The request body with ``system_prompt`` as its (only leading) system message."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return body
    msgs = list(body["messages"])
    sys_msg = {"role": "system", "content": system_prompt}
    if msgs and isinstance(msgs[0], dict) and msgs[0].get("role") in ("system", "developer"):
        msgs[0] = sys_msg
    else:
        msgs.insert(0, sys_msg)
    out = dict(body)
    out["messages"] = msgs
    return out


def _rewrite_model(doc: Any, alias: str) -> Any:
    if isinstance(doc, dict):
        if isinstance(doc.get("model"), str):
            doc["model"] = alias
        if doc.get("object") == "list" and isinstance(doc.get("data"), list):
            for m in doc["data"]:
                if isinstance(m, dict) and "id" in m:
                    m["id"] = alias
        if isinstance(doc.get("models"), list):       # llama.cpp also lists models here
            for m in doc["models"]:
                if isinstance(m, dict):
                    for k in ("name", "model"):
                        if k in m:
                            m[k] = alias
    return doc


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence access logs
        return None

    # ------------------------------------------------------------------ routing
    def do_GET(self) -> None:  # noqa: N802
        if self._path() == "/models":
            self._forward(None)
        else:
            self._not_found()

    def do_POST(self) -> None:  # noqa: N802
        body = self._read_body()
        if body is None:
            return
        if self._path() != "/chat/completions":
            self._not_found()
            return
        self._forward(body)

    def _path(self) -> str:
        p = urlsplit(self.path).path.rstrip("/")
        return p[3:] if p.startswith("/v1/") else p

    # ------------------------------------------------------------------ helpers
    def _read_body(self) -> bytes | None:
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = -1
        if n < 0 or n > MAX_REQUEST_BYTES or self.headers.get("Transfer-Encoding"):
            self._error(413 if n > MAX_REQUEST_BYTES else 400, "request body must have a Content-Length "
                        f"of at most {MAX_REQUEST_BYTES} bytes")
            self.close_connection = True
            return None
        return self.rfile.read(n) if n else b""

    def _error(self, code: int, message: str) -> None:
        body = json.dumps({"error": {"message": message, "type": "proxy_error", "code": code}}).encode()
        self.send_response_only(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _not_found(self) -> None:
        self._error(404, "not found")

    def _forward(self, body: bytes | None) -> None:
        srv = self.server
        if body is not None:
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            if doc is not None:
                doc = inject_system(doc, srv.system_prompt)
                if srv.upstream_model and isinstance(doc, dict):
                    doc["model"] = srv.upstream_model
                body = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in NOT_FORWARDED}
        headers["Accept-Encoding"] = "identity"
        if body is not None:
            headers["Content-Length"] = str(len(body))
        target = srv.upstream_path + self._path() + (("?" + urlsplit(self.path).query) if urlsplit(self.path).query else "")
        conn_cls = http.client.HTTPSConnection if srv.upstream_scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(srv.upstream_host, srv.upstream_port, timeout=srv.timeout)
        try:
            try:
                conn.request(self.command, target, body=body, headers=headers)
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                self._error(502, f"upstream unreachable: {type(e).__name__}")
                return
            self._relay(resp)
        finally:
            conn.close()

    def _relay(self, resp: http.client.HTTPResponse) -> None:
        alias = self.server.model_alias
        ctype = (resp.getheader("Content-Type") or "").lower()
        is_sse = "text/event-stream" in ctype
        length = resp.getheader("Content-Length")
        rewrite_whole = bool(alias) and not is_sse and "json" in ctype
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v)
        if rewrite_whole:
            data = resp.read()
            try:
                data = json.dumps(_rewrite_model(json.loads(data), alias), ensure_ascii=False).encode("utf-8")
            except ValueError:
                pass
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if length is not None and not (alias and is_sse):
            self.send_header("Content-Length", length)
            self.end_headers()
            self._copy(resp, chunked=False)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self._copy(resp, chunked=True, sse_alias=alias if is_sse else None)
        finally:
            try:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                self.close_connection = True

    def _copy(self, resp: http.client.HTTPResponse, *, chunked: bool, sse_alias: str | None = None) -> None:
        pending = b""
        while True:
            try:
                data = resp.read1(65536)
            except (OSError, http.client.HTTPException):
                self.close_connection = True
                data = b""
            if not data:
                break
            if sse_alias:
                pending += data
                if b"\n" not in pending:
                    continue
                cut = pending.rfind(b"\n") + 1
                data, pending = _rewrite_sse(pending[:cut], sse_alias), pending[cut:]
            self._emit(data, chunked)
        if pending:
            self._emit(_rewrite_sse(pending, sse_alias or ""), chunked)

    def _emit(self, data: bytes, chunked: bool) -> None:
        if not data:
            return
        if chunked:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        else:
            self.wfile.write(data)
        self.wfile.flush()


def _rewrite_sse(block: bytes, alias: str) -> bytes:
    out = []
    for line in block.split(b"\n"):
        if alias and line.startswith(b"data:") and line[5:].strip() not in (b"", b"[DONE]"):
            try:
                doc = json.loads(line[5:])
                line = b"data: " + json.dumps(_rewrite_model(doc, alias), ensure_ascii=False).encode("utf-8")
            except ValueError:
                pass
        out.append(line)
    return b"\n".join(out)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        """A client that hangs up mid-reply (its own deadline) is normal here, not an error."""
        import sys
        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)

    daemon_threads = True
    allow_reuse_address = True

    system_prompt: str
    model_alias: str | None
    upstream_model: str | None
    upstream_scheme: str
    upstream_host: str
    upstream_port: int
    upstream_path: str
    timeout: float


class DisguiseProxy:
    """Threaded loopback proxy; ``start()``/``stop()`` or use as a context manager."""

    def __init__(self, upstream: str, system_prompt: str, *, host: str = "127.0.0.1", port: int = 0,
                 model_alias: str | None = None, upstream_model: str | None = None,
                 timeout: float = 600.0) -> None:
        u = urlsplit(upstream.rstrip("/"))
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"upstream must be an http(s) base URL, got {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self.system_prompt = system_prompt
        self.host = host
        self._want_port = port
        self.model_alias = model_alias
        self.upstream_model = upstream_model
        self.timeout = timeout
        self._u = u
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("proxy not started")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> "DisguiseProxy":
        srv = _Server((self.host, self._want_port), _Handler)
        srv.system_prompt = self.system_prompt
        srv.model_alias = self.model_alias
        srv.upstream_model = self.upstream_model
        srv.upstream_scheme = self._u.scheme
        srv.upstream_host = self._u.hostname or "127.0.0.1"
        srv.upstream_port = self._u.port or (443 if self._u.scheme == "https" else 80)
        # The upstream base URL names the /v1 root; incoming /v1/<x> goes to <upstream>/<x>.
        srv.upstream_path = self._u.path.rstrip("/")
        srv.timeout = self.timeout
        self._server = srv
        self._thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="disguise-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> "DisguiseProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m provenance.testing.disguise_proxy",
                                 description="Serve an OpenAI-compatible upstream behind a hidden system prompt.")
    ap.add_argument("--upstream", required=True, help="upstream base URL, e.g. http://127.0.0.1:8080/v1")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--system-prompt", help="the hidden system message")
    g.add_argument("--system-prompt-file", help="file holding the hidden system message (UTF-8)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--model-alias", default=None, help="public model name shown to clients")
    args = ap.parse_args(argv)
    if args.system_prompt_file:
        with open(args.system_prompt_file, encoding="utf-8") as f:
            prompt = f.read()
    else:
        prompt = args.system_prompt
    try:
        proxy = DisguiseProxy(args.upstream, prompt, host=args.host, port=args.port, model_alias=args.model_alias)
        proxy.start()
    except (ValueError, OSError) as e:
        print(f"disguise_proxy: error: {e}", file=sys.stderr)
        return 2
    print(proxy.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
