"""The tests' one factory: probe sets, run settings, ports, fake servers, the CLI, a synthetic corpus.

Every test that needs a probe set on disk gets it from ``probe_dir`` (the one writer of
``probeset.toml`` and its probes) or ``probe_set`` (the same, loaded). The TOML snippets
below are the probe sets tests share; a test with a probe set of its own passes its TOML
(and, where its name shows in what the test checks, the set's name and version).

Fixtures built on these live in ``tests/conftest.py``: ``tiny_probes``, ``probes_dir``,
``servers`` and ``reference_dir``. Import with ``from factory import ...`` (``tests/`` is on
``sys.path``: ``pythonpath`` in pyproject.toml's ``[tool.pytest.ini_options]``).
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from provenance.probes import ProbeSet, load_probeset
from provenance.settings import RunSettings
from provenance.testing.fakeserver import FakeLLMServer, default_usage

REPO = Path(__file__).resolve().parents[1]
REPORTS = REPO / "data" / "e2e-reports"          # recorded reports of real models (llama.cpp runs)

# ---------------------------------------------------------------- probe sets

# Three behavioural probes (name "tiny", version "0.0.1"; conftest's ``tiny_probes`` writes it
# as tiny.toml): an identity question, a streamed style prompt, a tokenizer count.
TINY_PROBES = '''
[[probe]]
id = "identity.who"
family = "identity"
corpus = "model_name_identity:identity:4354982324"
messages = [{ role = "user", content = "Tell me your exact model name, version, and who made you." }]
max_tokens = 64

[[probe]]
id = "style.haiku"
family = "style"
corpus = "alpaca_eval:1"
stream = true
messages = [{ role = "user", content = "Write a haiku about rivers." }]
max_tokens = 64

[[probe]]
id = "tokenizer.digits"
family = "tokenizer"
mode = "count"
text = "1234567 89"
messages = [{ role = "user", content = "1234567 89" }]
max_tokens = 1
'''

# The transport tests' set (``probe_set``'s default): a chat probe with a system prompt, a
# streamed count probe, and an invalid request (max_tokens = -1).
TRANSPORT_PROBES = '''
[[probe]]
id = "t.chat"
family = "api"
messages = [{ role = "system", content = "Be brief." }, { role = "user", content = "Who made you?" }]
max_tokens = 64

[[probe]]
id = "t.stream"
family = "tokenizer"
mode = "count"
stream = true
max_tokens = 64
text = "count these words"
messages = [{ role = "user", content = "count these words" }]

[[probe]]
id = "t.invalid"
family = "api"
mode = "invalid"
params = { max_tokens = -1 }
messages = [{ role = "user", content = "hello" }]
'''

# One plain chat probe and one streamed probe: the probe sets of the fault and pacing tests.
CHAT_TOML = '''
[[probe]]
id = "f.chat"
family = "api"
max_tokens = 64
messages = [{ role = "user", content = "Say something." }]
'''
STREAM_TOML = '''
[[probe]]
id = "f.stream"
family = "tokenizer"
stream = true
max_tokens = 64
messages = [{ role = "user", content = "Say something streamed." }]
'''

# The CLI tests' set (name "tiny-test"; conftest's ``probes_dir`` writes it): two identity
# questions and a streamed style prompt. The shipped model refuses it (see ``keyword_cli``).
SCAN_PROBES = textwrap.dedent("""
    [[probe]]
    id = "identity.who"
    family = "identity"
    corpus = "t:1"
    max_tokens = 32
    messages = [{ role = "user", content = "Who made you?" }]

    [[probe]]
    id = "identity.name"
    family = "identity"
    corpus = "t:2"
    max_tokens = 32
    messages = [{ role = "user", content = "What is your name?" }]

    [[probe]]
    id = "style.poem"
    family = "style"
    corpus = "t:3"
    stream = true
    max_tokens = 32
    messages = [{ role = "user", content = "Write a haiku." }]
""")
N_SCAN_PROBES = 3


def many_probes_toml(n: int, stream: bool = False, max_tokens: int | Callable[[int], int] = 32) -> str:
    """``n`` plain probes ``t.p000``...; ``max_tokens``: one value, or probe number -> value."""
    out = []
    for i in range(n):
        mt = max_tokens(i) if callable(max_tokens) else max_tokens
        out.append(f'''
[[probe]]
id = "t.p{i:03d}"
family = "api"
stream = {"true" if stream else "false"}
max_tokens = {mt}
messages = [{{ role = "user", content = "probe number {i}" }}]
''')
    return "".join(out)


def probe_dir(root: Path, probes_toml: str | bytes = TRANSPORT_PROBES, *, name: str = "transport-test",
              version: str = "1", folder: str = "probes", file: str = "p.toml") -> Path:
    """Write a probe set to ``root/folder`` (made if missing): its ``probeset.toml`` (schema
    version 1, ``name``, ``version``) and ``probes_toml`` as ``file`` (bytes written as they
    are, text as UTF-8 with lone surrogates kept). Returns the folder."""
    d = root / folder
    d.mkdir(parents=True, exist_ok=True)
    (d / "probeset.toml").write_text(f'schema_version = 1\nname = "{name}"\nversion = "{version}"\n')
    if isinstance(probes_toml, bytes):
        (d / file).write_bytes(probes_toml)
    else:
        (d / file).write_text(probes_toml, encoding="utf-8", errors="surrogatepass")
    return d


def probe_set(root: Path, probes_toml: str = TRANSPORT_PROBES, **kw: Any) -> ProbeSet:
    """``probe_dir(root, probes_toml, **kw)``, loaded."""
    return load_probeset(probe_dir(root, probes_toml, **kw))


# A probe the shipped model was not trained on (tests of a probe set larger than the model's).
NEW_PROBE_TOML = '''
[[probe]]
id = "style.contributed.001"
family = "style"
corpus = "alpaca_eval:contributed_001"
max_tokens = 120
messages = [{ role = "user", content = "Describe a lighthouse at dawn in two sentences." }]
notes = "a contributor's probe, not in the shipped model"
'''


def grown_probes(root: Path, extra_toml: str = NEW_PROBE_TOML, version: str = "9.9.9") -> Path:
    """The shipped probe set with ``extra_toml`` added and its version bumped, in ``root/grown``:
    what a contributor who adds a probe has before retraining."""
    import shutil
    d = root / "grown"
    shutil.copytree(REPO / "probes", d)
    ps = (d / "probeset.toml").read_text()
    (d / "probeset.toml").write_text(re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', ps))
    (d / "contributed.toml").write_text(extra_toml, encoding="utf-8")
    return d


def write_scan_probes(d: Path) -> Path:
    """The CLI tests' set (``SCAN_PROBES``) in folder ``d``."""
    return probe_dir(d.parent, SCAN_PROBES, name="tiny-test", folder=d.name)


# ---------------------------------------------------------------- settings and ports

def fast_settings(**kw: Any) -> RunSettings:
    """Run settings for loopback servers; ``kw`` overrides any of them."""
    # generous for normal replies on a loaded 2-core box; fault tests that need a
    # timeout to fire pass small values explicitly
    # ask_server off: the self-description read (GET /props, /info, /api/version) would add
    # requests to the ones fault tests count; tests/probing/test_capacity.py turns it on
    base = dict(connect_timeout=1.0, read_timeout=2.0, request_timeout=3.0, deadline=5.0,
                retries=3, backoff_base=0.01, backoff_max=0.3, concurrency=4,
                max_body_bytes=1_000_000, ask_server=False)
    base.update(kw)
    return RunSettings(**base)


def free_port() -> int:
    """A port nothing listens on (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- fake servers
# FakeLLMServer itself is provenance.testing.fakeserver's; conftest's ``servers`` fixture
# starts any number of them and stops them when the test ends.

class Served:
    """Answers numbered one by one (``serial#N``), and a log of what was asked:
    serial -> (entrant, prompt), the entrant being the first part of the request's path."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counter = itertools.count(1)
        self.log: dict[int, tuple[str, str]] = {}

    def answer_fn(self, creator_line: str):
        def fn(body, request):
            entrant = request.path.strip("/").split("/")[0]
            prompt = next((m.get("content") for m in reversed(body.get("messages") or [])
                           if isinstance(m, dict) and m.get("role") == "user"), "")
            with self.lock:
                n = next(self.counter)
                self.log[n] = (entrant, prompt)
            return f"{creator_line} serial#{n}"
        return fn


SERIAL = re.compile(r"serial#(\d+)")

_TOKENIZERS = json.loads(resources.files("provenance").joinpath("data/tokenizers.json").read_text())


def _key(messages: Any) -> str:
    return json.dumps(messages, sort_keys=True, ensure_ascii=False)


def replay_server(report: Path | str, family: str, **kw: Any) -> FakeLLMServer:
    """A server that replays a recorded report's answers (a maker's genuine answers).

    For each request it serves the answer the recorded model gave to the same messages,
    and bills prompt tokens as the recorded server did. A probe the recording lacks (the
    probe set changed since) gets a short generic answer, and, for tokenizer count probes,
    the count the recorded tokenizer ``family`` gives (from the shipped tokenizer table), so
    the replay stays a faithful endpoint of that maker under any probe set. ``kw`` goes to
    FakeLLMServer. (``provenance.demo.replay_server`` is the demo's, from its own data.)
    """
    doc = json.loads(Path(report).read_text(encoding="utf-8"))
    answers: dict[str, str] = {}
    usage: dict[str, int] = {}
    for p in doc["probes"]:
        body = (p.get("request") or {}).get("json") or {}
        msgs = body.get("messages")
        if not msgs or p.get("status") != "ok":
            continue
        answers[_key(msgs)] = p.get("text") or ""
        pt = (p.get("usage") or {}).get("prompt_tokens")
        if isinstance(pt, int):
            usage[_key(msgs)] = pt
    fam = _TOKENIZERS["families"][family]
    base_pid = _TOKENIZERS["baseline"]["probe"]
    by_msgs = {_key(p.messages): p.id for p in load_probeset().probes if getattr(p, "messages", None)}
    base_msgs = next((k for k, pid in by_msgs.items() if pid == base_pid), None)
    template = usage.get(base_msgs, 30) - fam["baseline"] if base_msgs else 30 - fam["baseline"]

    def answer(body: dict[str, Any]) -> str:
        return answers.get(_key(body.get("messages")), "I'm sorry, I can't help with that request.")

    def usage_fn(messages: list[dict[str, Any]]) -> int:
        k = _key(messages)
        if k in usage:
            return usage[k]
        pid = by_msgs.get(k)
        if pid == base_pid:
            return template + fam["baseline"]
        if pid in fam["counts"]:
            return template + fam["counts"][pid]
        return default_usage(messages)

    return FakeLLMServer(answer_fn=answer, usage_fn=usage_fn, **kw)


# ---------------------------------------------------------------- the CLI as a subprocess

def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without the operator's API keys, plus ``env``."""
    from provenance.endpoints import registry
    e = dict(os.environ)
    for proto in registry.PROTOCOLS:               # every protocol's default key variable
        e.pop(proto.key_env, None)
    e.update(env or {})
    return e


def run_cli(args: list[str], tmp_path: Path, env: dict[str, str] | None = None, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess:
    """``python -m provenance ARGS`` in ``tmp_path``, its run store there too; ``input``: its stdin."""
    e = cli_env({"PROVENANCE_DB": str(tmp_path / "runs.sqlite3"), **(env or {})})
    return subprocess.run([sys.executable, "-m", "provenance", *args], capture_output=True, text=True,
                          input=input, timeout=timeout, env=e, cwd=tmp_path)


# The shipped trained model refuses the CLI tests' tiny probe set (it was trained on the shipped
# one), so ``keyword_cli`` runs the CLI with the keyword baseline: the scan machinery, not the
# classifier, is under test.
CLI_BOOT = ("import provenance.classifier as c; c.default_model_dir = lambda: None; "
            "from provenance.cli import main; main()")


def keyword_cli(args, env=None, timeout=60) -> subprocess.CompletedProcess:
    """The CLI with the keyword classifier (``CLI_BOOT``), ARGS as strings."""
    return subprocess.run([sys.executable, "-c", CLI_BOOT, *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=cli_env(env))


# A scan killed part-way: its concurrency, and the helpers that start and kill it.
GLOBAL_CONCURRENCY = 3
PROBE_CONCURRENCY = 1


def scan_cmd(ef, db, probes, out) -> list[str]:
    """The ``keyword_cli`` command line of a scan of entrants file ``ef``."""
    return [sys.executable, "-c", CLI_BOOT, "scan", str(ef), "--db", str(db),
            "--probes", str(probes), "--out", str(out), "--concurrency", str(GLOBAL_CONCURRENCY),
            "--per-host", "2", "--probe-concurrency", str(PROBE_CONCURRENCY), "--retries", "3"]


def count_rows(db) -> int:
    """Probe rows in the run store ``db`` (0 while it is absent or unreadable)."""
    if not os.path.exists(db):
        return 0
    try:
        c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return c.execute("SELECT COUNT(*) FROM probe_results").fetchone()[0]
        finally:
            c.close()
    except sqlite3.Error:
        return 0


def run_and_kill(cmd, db, at_rows: int, limit_s: float = 30.0) -> int:
    """Start a scan, SIGKILL it once the store holds ``at_rows`` probe rows; return its exit status."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=cli_env())
    end = time.monotonic() + limit_s
    try:
        while time.monotonic() < end and proc.poll() is None:
            if count_rows(db) >= at_rows:
                break
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
    return proc.returncode


# ---------------------------------------------------------------- a synthetic training corpus

# Three creators, each with a writing style and a self-description.
CREATORS = {
    "OpenAI": ("Certainly! Here's a quick overview:\n\n- **{w}** matters\n- {v} helps\n\nI hope this helps!",
               "I am ChatGPT, a model trained by OpenAI."),
    "Anthropic": ("I'd be happy to help. {w} is interesting because {v} shapes it.\n\nLet me know if you have questions.",
                  "I'm Claude, an AI assistant made by Anthropic."),
    "Google": ("## {w}\n\n{v} is key. 🎉\n\n### Summary\n* {w}\n* {v}",
               "I am Gemma, a model from Google DeepMind."),
}
WORDS = ["rivers", "clouds", "engines", "gardens", "maps", "bridges", "lamps", "forests"]
PROMPTS = [f"p{i}" for i in range(20)]   # nearest-model channels need >= 20 answers a model


def synthetic_records(rng: random.Random) -> list[dict[str, Any]]:
    """Three models a creator: a styled answer to every prompt and one identity answer."""
    out = []
    for creator, (style, claim) in CREATORS.items():
        for k in range(3):
            model = f"{creator.lower()}-model-{k}"
            for pid in PROMPTS:
                text = style.format(w=rng.choice(WORDS), v=rng.choice(WORDS))
                out.append({"source": "alpaca_eval", "model": model, "creator": creator, "variant": "",
                            "prompt_id": pid, "kind": "style", "prompt": f"prompt {pid}", "response": text, "extra": {}})
            out.append({"source": "model_name_identity", "model": model, "creator": creator, "variant": "",
                        "prompt_id": "identity:x1", "kind": "identity", "prompt": "who made you?",
                        "response": claim, "extra": {"run": 0}})
    return out


# The synthetic corpus's probe set (name "synth", version "0.0.1"): a style probe a prompt, and
# the identity question.
SYNTH_PROBES = "\n".join(
    [f'[[probe]]\nid = "style.{p}"\nfamily = "style"\ncorpus = "alpaca_eval:{p}"\nmax_tokens = 100\n'
     f'messages = [{{ role = "user", content = "prompt {p}" }}]\n' for p in PROMPTS]
    + ['[[probe]]\nid = "identity.who"\nfamily = "identity"\ncorpus = "model_name_identity:identity:x1"\n'
       'max_tokens = 100\nmessages = [{ role = "user", content = "who made you?" }]\n'])


def synthetic_corpus(d: Path) -> tuple[Path, Path]:
    """The synthetic corpus (``d/corpus``, from ``random.Random(0)``) and its probe set
    (``d/probes``); returns both folders."""
    corpus = d / "corpus"
    corpus.mkdir()
    with gzip.open(corpus / "responses.jsonl.gz", "wt", encoding="utf-8") as f:
        for r in synthetic_records(random.Random(0)):
            f.write(json.dumps(r) + "\n")
    return corpus, probe_dir(d, SYNTH_PROBES, name="synth", version="0.0.1")
