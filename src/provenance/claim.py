"""What an endpoint claims to be: a creator (and family) from its model name or from the user.

The model-name table ships as data (``data/model_names.json``, documented in
docs/claims.md): ordered regular expressions on the lower-cased model id (router
prefixes such as ``openai/`` or ``models/`` removed) mapping to a creator and a
family, and a table of hub/router organisation prefixes (``meta-llama/...``,
``Qwen/...``) used when the id itself matches no rule. ``--claim CREATOR[/FAMILY]``
names a maker directly; makers are matched case-insensitively, with a few aliases
("Alibaba Cloud", "Mistral AI", "z.ai").

Pure functions of strings; no numpy, no network.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from .errors import ConfigError

SOURCE_NAME = "model name"
SOURCE_FLAG = "--claim"
SOURCE_FILE = "entrants file"
MAX_CLAIM = 200


@dataclass(frozen=True)
class Claim:
    creator: str                 # as the classifier labels makers, e.g. "OpenAI"
    family: str | None           # e.g. "GPT-4o", or None
    source: str                  # "model name" | "--claim" | "entrants file"
    given: str                   # the text it was read from (model id or claim)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NameTable:
    rules: tuple[tuple[re.Pattern[str], str, str | None], ...]
    orgs: dict[str, str]
    aliases: dict[str, str]

    @property
    def creators(self) -> list[str]:
        return sorted({c for _, c, _ in self.rules} | set(self.orgs.values()) | set(self.aliases.values()),
                      key=str.lower)


@lru_cache(maxsize=2)
def load_table(path: str | None = None) -> NameTable:
    text = (open(path, encoding="utf-8").read() if path else
            resources.files("provenance").joinpath("data/model_names.json").read_text(encoding="utf-8"))
    doc = json.loads(text)
    rules = tuple((re.compile(r["pattern"]), str(r["creator"]), r.get("family")) for r in doc["rules"])
    return NameTable(rules=rules, orgs={k.lower(): v for k, v in doc.get("orgs", {}).items()},
                     aliases={k.lower(): v for k, v in doc.get("creator_aliases", {}).items()})


def _split(model: str) -> tuple[str, str]:
    """(organisation prefix, model id): 'openai/gpt-4o' -> ('openai', 'gpt-4o');
    'models/gemini-1.5-pro' -> ('', 'gemini-1.5-pro'); provider suffixes like ':free' stay."""
    m = model.strip().lower()
    org, _, rest = m.rpartition("/")
    if org.split("/")[-1] in ("models", "model", ""):
        org = ""
    return org.split("/")[-1], rest


def claim_from_model_name(model: str, table: NameTable | None = None) -> Claim | None:
    """The creator and family a model name claims, or None when the table knows no maker for it."""
    t = table or load_table()
    org, mid = _split(model)
    for rx, creator, family in t.rules:
        if rx.match(mid):
            return Claim(creator=creator, family=family, source=SOURCE_NAME, given=model)
    if org and org in t.orgs:
        return Claim(creator=t.orgs[org], family=None, source=SOURCE_NAME, given=model)
    return None


def resolve_creator(name: str, table: NameTable | None = None) -> str | None:
    """A maker's canonical name from what a user typed ('openai', 'Mistral AI'), or None."""
    t = table or load_table()
    key = " ".join(name.strip().lower().split())
    for c in t.creators:
        if c.lower() == key:
            return c
    return t.aliases.get(key)


def parse_claim(text: str, source: str = SOURCE_FLAG, table: NameTable | None = None) -> Claim:
    """``CREATOR`` or ``CREATOR/FAMILY`` as a user gives it; ConfigError naming the known makers
    when the creator is not one."""
    t = table or load_table()
    raw = (text or "").strip()
    if not raw or len(raw) > MAX_CLAIM or any(ord(ch) < 32 for ch in raw):
        raise ConfigError(f"{source}: expected CREATOR or CREATOR/FAMILY, e.g. OpenAI or OpenAI/GPT-4o")
    creator_s, _, family_s = raw.partition("/")
    creator = resolve_creator(creator_s, t)
    if creator is None:
        from .text_safety import safe_line
        raise ConfigError(f"{source}: unknown maker {safe_line(creator_s, 60)!r} "
                          f"(known: {', '.join(t.creators)})")
    family = family_s.strip() or None
    return Claim(creator=creator, family=family, source=source, given=raw)


def claim_for(model: str, claim: str | None, *, source: str = SOURCE_FLAG, option: str = "--claim") -> Claim:
    """The claim to check: ``claim`` when given, else the model name's. A name no rule maps
    and no explicit claim is a usage error that says how to give one."""
    if claim is not None:
        return parse_claim(claim, source=source)
    got = claim_from_model_name(model)
    if got is None:
        from .text_safety import safe_line
        raise ConfigError(f"model name {safe_line(model, 80)!r} maps to no known maker; say what it claims "
                          f"to be with {option} CREATOR[/FAMILY], e.g. {option} OpenAI/GPT-4o")
    return got
