"""Helpers shared by the transport tests: a tiny probe set and fast settings."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Callable

from provenance.probes import ProbeSet, load_probeset
from provenance.settings import RunSettings

PROBESET_TOML = 'name = "transport-test"\nversion = "1"\n'

PROBES_TOML = '''
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


def write_probeset(root: Path, probes_toml: str = PROBES_TOML) -> ProbeSet:
    d = root / "probes"
    d.mkdir(exist_ok=True)
    (d / "probeset.toml").write_text(PROBESET_TOML)
    (d / "p.toml").write_text(probes_toml)
    return load_probeset(d)


def many_probes_toml(n: int, stream: bool = False, max_tokens: int | Callable[[int], int] = 32) -> str:
    """``n`` plain probes; ``max_tokens``: one value, or probe number -> value."""
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


def fast_settings(**kw) -> RunSettings:
    # generous for normal replies on a loaded 2-core box; fault tests that need a
    # timeout to fire pass small values explicitly
    base = dict(connect_timeout=1.0, read_timeout=2.0, request_timeout=3.0, deadline=5.0,
                retries=3, backoff_base=0.01, backoff_max=0.3, concurrency=4,
                max_body_bytes=1_000_000)
    base.update(kw)
    return RunSettings(**base)


def free_port() -> int:
    """A port nothing listens on (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def one_probe_set(root: Path, name: str, toml: str) -> ProbeSet:
    """A probe set of ``toml`` in its own folder ``root/name``."""
    (root / name).mkdir()
    return write_probeset(root / name, toml)
