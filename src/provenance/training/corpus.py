"""Reading the reference corpus (and extra collected answers) for training and evaluation.

Records are the corpus format: source, model, creator, variant, prompt_id, kind,
prompt, response, extra. ``group_key`` groups a model with its aliases and
dated snapshots, so leave-one-model-out removes them together.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable

from ..errors import ConfigError
from .records import Record, read_records
from ..classifier.corpus_sources import SOURCE_FAMILY, family_of_source  # noqa: F401 (SOURCE_FAMILY re-exported)


# explicit aliases the name rules below cannot see (documented in docs/classifier.md)
ALIASES = {
    "claude-bedrock": "claude-2",
    "gpt-3.5-turbo": "gpt-3.5-turbo",
    # GPT-4 Turbo's preview snapshots (the gpt-4-turbo-preview alias), not GPT-4's
    "gpt-4-1106-preview": "gpt-4-turbo",
    "gpt-4-0125-preview": "gpt-4-turbo",
    # one model under two naming orders (Arena-Hard / AlpacaEval)
    "internlm2-chat-20b-ppo": "internlm2-20b-chat",
    # an updated checkpoint of V3.1, as kimi-k2-0905 is of kimi-k2
    "deepseek-v3.1-terminus": "deepseek-chat-v3.1",
}

_STRIP = (
    re.compile(r"[:@].*$"),                                # :free, @provider
    re.compile(r"-(?:20\d\d-?\d\d-?\d\d|\d{4}(?:-\d\d)?|\d\d-\d\d)(?=$|-)"),  # dated snapshots -0613, -20240229, -2024-05-13, -02-15
    re.compile(r"-(?:preview|latest|exp|api|bedrock)(?=$|-)"),
    re.compile(r"-(?:chat|instruct|it|hf)$"),
)


def group_key(model: str) -> str:
    """A model's alias group: the name without dates, ':free', '-preview', '-api', '-chat'..."""
    name = ALIASES.get(model, model).lower()
    prev = None
    while prev != name:
        prev = name
        for rx in _STRIP:
            name = rx.sub("", name)
    return name.strip("-") or model


def corpus_files(corpus_dir: Path | str, extra: Iterable[Path | str] = ()) -> list[Path]:
    d = Path(corpus_dir)
    main = d / "responses.jsonl.gz"
    if not d.is_dir() or not main.is_file():
        raise ConfigError(f"{d}: not a reference corpus directory (responses.jsonl.gz missing)")
    files = [main]
    for e in extra:
        p = Path(e)
        if not p.is_file():
            raise ConfigError(f"{p}: extra corpus file not found")
        files.append(p)
    return files


def load_records(corpus_dir: Path | str, extra: Iterable[Path | str] = ()) -> list[Record]:
    out: list[Record] = []
    for f in corpus_files(corpus_dir, extra):
        out.extend(read_records(f))
    return out


def load_events(corpus_dir: Path | str) -> dict[str, dict[str, Any]]:
    """event id -> event (month, expected answer, subject) from cutoff_events.jsonl."""
    p = Path(corpus_dir) / "cutoff_events.jsonl"
    if not p.is_file():
        return {}
    out = {}
    try:
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                e = json.loads(line)
                out[str(e["id"])] = e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: unreadable ({type(e).__name__})") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{p}:{n}: not a cutoff event record") from None
    return out
