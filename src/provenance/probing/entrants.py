"""Leaderboard entrants: a YAML, JSON or CSV file listing endpoints to scan (or, with
``entrants_from_models``, every model a server's ``GET /models`` lists).

Each entrant has ``name``, ``base_url`` and ``model``, and optionally
``protocol`` (a name of ``endpoints/registry.py``: openai, anthropic, gemini), ``api_key_env`` (the NAME of an environment
variable holding the key; keys never go in the file), ``headers`` (extra
request headers; credentials are refused there too) and ``claim`` (the maker,
and optionally family, the entrant claims to be: ``CREATOR[/FAMILY]``; without
it the scan reads the claim from the model name, see docs/claims.md; the run layer parses
and checks it: ``run/scan.py``). An entrant without ``api_key_env`` is sent no key at all:
a protocol's default key variable (``OPENAI_API_KEY`` ...) is never handed to entrants
implicitly.

YAML / JSON: a list of mappings, or a mapping with an ``entrants`` list::

    entrants:
      - name: team-a
        base_url: https://a.example.com/v1
        model: a-large
        api_key_env: TEAM_A_KEY
      - {name: team-b, base_url: "http://10.0.0.5:8000/v1", model: b, protocol: openai}

CSV: a header row naming the columns, then one entrant per row; ``headers``
is ``Name: value; Name2: value`` or a JSON object. Lines starting with ``#``
are comments.

Everything is validated before any request is sent (the claim column by
``run/scan.py: entrant_claims``); the first problem is a ConfigError (exit code 2)
naming the file, line (or entry) and field.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..endpoints import registry as protocols
from ..settings import Target, make_target, parse_header, validate_base_url

MAX_FILE_BYTES = 8_000_000
MAX_ENTRANTS = 100_000
MAX_NAME = 200
FIELDS = ("name", "base_url", "model", "protocol", "api_key_env", "headers", "claim")
REQUIRED = ("name", "base_url", "model")
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "api-key", "cookie",
                      "x-goog-api-key", "ocp-apim-subscription-key")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")


@dataclass(frozen=True)
class Entrant:
    name: str
    target: Target
    where: str          # "FILE:LINE" or "FILE entry #N": for messages
    claim: str | None = None   # the 'claim' column as written (CREATOR[/FAMILY]); the run layer reads it


def _safe(s: Any, n: int = 80) -> str:
    from ..text_safety import safe_line
    return safe_line(s, n)


def _parse_yaml(text: str, path: Path) -> tuple[Any, list[int | None]]:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        from ..installing import install_hint
        raise ConfigError(f"{path}: reading YAML needs PyYAML: {install_hint('yaml', ['pyyaml'])} "
                          "(or write the entrants as JSON or CSV)") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506 - SafeLoader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(e, "problem", None) or type(e).__name__
        raise ConfigError(f"{where}: invalid YAML ({_safe(problem)})") from None
    except (RecursionError, MemoryError):
        raise ConfigError(f"{path}: invalid YAML (nested too deeply)") from None
    except Exception as e:  # noqa: BLE001 - untrusted input: any parser failure is a config error
        raise ConfigError(f"{path}: invalid YAML ({type(e).__name__})") from None
    lines: list[int | None] = []
    seq = node
    if node is not None and isinstance(node, yaml.MappingNode):
        seq = None
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == "entrants":
                seq = v
    if seq is not None and isinstance(seq, yaml.SequenceNode):
        lines = [item.start_mark.line + 1 for item in seq.value]
    return data, lines


def _parse_json(text: str, path: Path) -> tuple[Any, list[int | None]]:
    try:
        return json.loads(text), []
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}:{e.lineno}: invalid JSON ({_safe(e.msg)})") from None
    except (RecursionError, ValueError):
        raise ConfigError(f"{path}: invalid JSON (nested too deeply or malformed)") from None


def _parse_headers_cell(cell: str, where: str) -> dict[str, str]:
    cell = cell.strip()
    if not cell:
        return {}
    if cell.startswith("{"):
        try:
            d = json.loads(cell)
        except (ValueError, RecursionError):
            raise ConfigError(f"{where}: field 'headers' is not a valid JSON object") from None
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: field 'headers' must be a JSON object")
        return d
    out: dict[str, str] = {}
    for part in cell.split(";"):
        if not part.strip():
            continue
        kv = parse_header(part)
        if kv is None:
            raise ConfigError(f"{where}: field 'headers': expected 'Name: value; Name2: value'")
        out[kv[0]] = kv[1]
    return out


def _parse_csv(text: str, path: Path) -> tuple[list[dict[str, Any]], list[int | None]]:
    lines = [ln for ln in text.splitlines()]
    # keep line numbers: blank out comment lines instead of dropping them
    cleaned = "\n".join("" if ln.lstrip().startswith("#") else ln for ln in lines)
    try:
        reader = csv.reader(io.StringIO(cleaned, newline=""), strict=True)
        header: list[str] | None = None
        rows: list[dict[str, Any]] = []
        where: list[int | None] = []
        for row in reader:
            if not row or all(not c.strip() for c in row):
                continue
            if header is None:
                header = [c.strip().lower() for c in row]
                unknown = [c for c in header if c not in FIELDS]
                if unknown:
                    raise ConfigError(f"{path}:{reader.line_num}: unknown column {_safe(unknown[0])!r} "
                                      f"(columns: {', '.join(FIELDS)})")
                if len(set(header)) != len(header):
                    raise ConfigError(f"{path}:{reader.line_num}: a column name appears twice")
                missing = [c for c in REQUIRED if c not in header]
                if missing:
                    raise ConfigError(f"{path}:{reader.line_num}: header row lacks column {missing[0]!r}")
                continue
            loc = f"{path}:{reader.line_num}"
            if len(row) != len(header):
                raise ConfigError(f"{loc}: expected {len(header)} fields, found {len(row)}")
            d: dict[str, Any] = {}
            for k, v in zip(header, row):
                v = v.strip()
                if k == "headers":
                    d[k] = _parse_headers_cell(v, loc)
                elif v:
                    d[k] = v
            rows.append(d)
            where.append(reader.line_num)
            if len(rows) > MAX_ENTRANTS:
                raise ConfigError(f"{path}: more than {MAX_ENTRANTS} entrants")
    except csv.Error as e:
        raise ConfigError(f"{path}: invalid CSV ({_safe(e)})") from None
    if header is None:
        raise ConfigError(f"{path}: empty CSV (expected a header row: {', '.join(REQUIRED)}, ...)")
    return rows, where


def _detect(path: Path, text: str) -> str:
    ext = path.suffix.lower()
    if ext in (".yaml", ".yml"):
        return "yaml"
    if ext == ".json":
        return "json"
    if ext in (".csv", ".tsv"):
        return "csv"
    head = text.lstrip()[:1]
    if head in ("[", "{"):
        return "json"
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    if "," in first and "name" in first.lower() and ":" not in first:
        return "csv"
    return "yaml"


def _str_field(d: dict[str, Any], key: str, where: str, required: bool) -> str | None:
    v = d.get(key)
    if v is None:
        if required:
            raise ConfigError(f"{where}: missing field '{key}'")
        return None
    if not isinstance(v, str):
        raise ConfigError(f"{where}: field '{key}' must be a string, not {type(v).__name__}")
    v = v.strip()
    if required and not v:
        raise ConfigError(f"{where}: field '{key}' is empty")
    return v or None


def _entrant(d: Any, where: str, require_keys: bool) -> Entrant:
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: an entrant must be a mapping with name, base_url and model")
    bad = [k for k in d if not isinstance(k, str) or k not in FIELDS]
    if bad:
        raise ConfigError(f"{where}: unknown field {_safe(bad[0])!r} (fields: {', '.join(FIELDS)})")
    name = _str_field(d, "name", where, True)
    assert name is not None
    if len(name) > MAX_NAME or any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 for c in name):
        raise ConfigError(f"{where}: field 'name' must be at most {MAX_NAME} printable characters")
    where = f"{where} (entrant {_safe(name, 60)!r})"
    base_url = _str_field(d, "base_url", where, True)
    model = _str_field(d, "model", where, True)
    protocol = _str_field(d, "protocol", where, False) or "openai"
    if protocols.get(protocol) is None:
        raise ConfigError(f"{where}: field 'protocol' must be one of {', '.join(protocols.names())}")
    key_env = _str_field(d, "api_key_env", where, False)
    if key_env is not None:
        if not key_env.replace("_", "").isalnum() or not key_env.isascii() or key_env[0].isdigit():
            raise ConfigError(f"{where}: field 'api_key_env' must name an environment variable "
                              "(letters, digits, _), not hold the key itself")
        if require_keys and not os.environ.get(key_env):
            raise ConfigError(f"{where}: environment variable {key_env} (field 'api_key_env') is not set")
    claim = _str_field(d, "claim", where, False)
    headers_raw = d.get("headers")
    headers: dict[str, str] = {}
    if headers_raw is not None:
        if not isinstance(headers_raw, dict):
            raise ConfigError(f"{where}: field 'headers' must be a mapping of header name to value")
        for k, v in headers_raw.items():
            if not isinstance(k, str) or not isinstance(v, (str, int, float)) or isinstance(v, bool):
                raise ConfigError(f"{where}: field 'headers': names and values must be strings")
            if k.strip().lower() in CREDENTIAL_HEADERS:
                raise ConfigError(f"{where}: field 'headers': credentials ({_safe(k, 40)}) may not be written in "
                                  "the file; put the key in an environment variable named by 'api_key_env'")
            k, v = k.strip(), str(v).strip()
            if not _TOKEN.fullmatch(k):
                raise ConfigError(f"{where}: field 'headers': {_safe(k, 40)!r} is not a valid header name")
            if not all(32 <= ord(c) < 127 or 160 <= ord(c) < 256 or c == "\t" for c in v):
                raise ConfigError(f"{where}: field 'headers': the value of {k} has characters HTTP cannot carry")
            headers[k] = v
    try:
        validate_base_url(base_url or "")
    except ConfigError as e:
        raise ConfigError(f"{where}: field 'base_url': {e}") from None
    except (ValueError, UnicodeError):
        raise ConfigError(f"{where}: field 'base_url' is not a valid URL") from None
    try:
        target = make_target(base_url or "", model or "", protocol=protocol, api_key_env=key_env,
                             headers=headers, name=name, require_key=require_keys)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    except (ValueError, UnicodeError):
        raise ConfigError(f"{where}: field 'base_url' is not a valid URL") from None
    if key_env is None and target.api_key_env is not None:
        # make_target falls back to OPENAI_API_KEY / ANTHROPIC_API_KEY; an entrant that names no
        # key variable must not receive the operator's own key.
        target = dataclasses.replace(target, api_key_env=None)
    return Entrant(name=name, target=target, where=where, claim=claim)


def parse_entrants(text: str, path: Path | str = "<entrants>", fmt: str | None = None,
                   require_keys: bool = True) -> list[Entrant]:
    """Validate entrants from text; ConfigError (one line) on the first problem."""
    p = Path(str(path))
    fmt = fmt or _detect(p, text)
    if fmt == "yaml":
        data, lines = _parse_yaml(text, p)
    elif fmt == "json":
        data, lines = _parse_json(text, p)
    elif fmt == "csv":
        data, lines = _parse_csv(text, p)
    else:
        raise ConfigError(f"unknown entrants format {fmt!r}")
    if isinstance(data, dict):
        extra = [k for k in data if k != "entrants"]
        if "entrants" not in data or extra:
            raise ConfigError(f"{p}: expected a list of entrants, or a mapping with only an 'entrants' list")
        data = data["entrants"]
    if not isinstance(data, list):
        raise ConfigError(f"{p}: expected a list of entrants (name, base_url, model)")
    if not data:
        raise ConfigError(f"{p}: no entrants in the file")
    if len(data) > MAX_ENTRANTS:
        raise ConfigError(f"{p}: more than {MAX_ENTRANTS} entrants")
    out: list[Entrant] = []
    seen: dict[str, str] = {}
    for i, d in enumerate(data):
        line = lines[i] if i < len(lines) else None
        where = f"{p}:{line}" if line else f"{p} entry #{i + 1}"
        e = _entrant(d, where, require_keys)
        if e.name in seen:
            raise ConfigError(f"{where}: duplicate entrant name {_safe(e.name, 60)!r} "
                              f"(first at {seen[e.name]})")
        seen[e.name] = f"line {line}" if line else f"entry #{i + 1}"
        out.append(e)
    return out


def load_entrants(path: Path | str, require_keys: bool = True) -> list[Entrant]:
    p = Path(path)
    from ..files import read_capped
    raw = read_capped(p, MAX_FILE_BYTES, "an entrants file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: entrants file is not UTF-8 text") from None
    return parse_entrants(text, p, require_keys=require_keys)


def entrants_from_models(url: str, *, match: str | None, api_key_env: str | None, settings: Any,
                         require_key: bool = True) -> list[Entrant]:
    """One entrant per model listed by ``GET {url}/models`` (OpenAI-compatible)."""
    import asyncio
    import fnmatch

    from ..errors import EndpointUnusable, TransportError

    probe_target = make_target(url, "listing", api_key_env=api_key_env, require_key=require_key)
    try:
        from ..endpoints.openai import list_models
    except ImportError:  # pragma: no cover - the transport ships it
        raise ConfigError("listing models needs provenance.endpoints.openai.list_models") from None
    try:
        ids = asyncio.run(list_models(probe_target.base_url, settings=settings, api_key=probe_target.api_key(),
                                      headers=None, deadline_at=None))
    except TransportError as e:
        from ..text_safety import safe_line
        raise EndpointUnusable(f"{probe_target.public()['base_url']}: {safe_line(e, 300)}") from None
    seen: set[str] = set()
    out: list[Entrant] = []
    for mid in ids:
        if mid in seen or (match and not fnmatch.fnmatchcase(mid, match)):
            continue
        seen.add(mid)
        t = make_target(url, mid, api_key_env=probe_target.api_key_env, name=mid, require_key=require_key)
        out.append(Entrant(name=mid, target=t, where=f"{t.public()['base_url']}/models"))
    if not out:
        raise ConfigError(f"{probe_target.public()['base_url']}/models lists no model"
                          + (f" matching {match!r}" if match else ""))
    return out
