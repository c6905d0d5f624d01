"""Reading answers a person pasted: a filled-in questionnaire form (Markdown) or JSON.

Accepted, all untrusted:

* the Markdown form ``provenance questionnaire`` prints, edited by hand: CRLF line
  ends, a byte-order mark, extra blank lines and trailing spaces are tolerated, and
  an answer may hold Markdown of its own (code fences, headings, HTML comments):
  only the marker lines ``<!-- answer: ID -->`` / ``<!-- end answer -->`` (``answer
  A: ID`` / ``end answer A`` on a pair form) delimit it;
* JSON ``{"answers": {"<probe id>": "<text>"}}`` (on a pair form ``{"answers":
  {"A": {...}, "B": {...}}}``), or a list of ``{"id": ..., "answer": ...}``
  (``answer_a``/``answer_b`` for a pair), or the ``questionnaire --json`` document with
  an ``answer`` (or ``answer_a``/``answer_b``) added to each question.

``read_answers`` raises ConfigError (exit 2) with one line for anything else: an
empty or unreadable file, a form for another probe-set version, an unknown or
non-questionnaire probe id, a form without a single answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .probes import ProbeSet
from .questionnaire import FORM_TAG, SIDES, askable
from .transcript import MAX_TEXT_CHARS

MAX_FILE_BYTES = 8_000_000

_HEADER = re.compile(r"<!--\s*" + re.escape(FORM_TAG) + r"\s*;(?P<body>.*?)-->", re.IGNORECASE)
_START = re.compile(r"^\s*<!--\s*answer(?:\s+(?P<side>[A-Za-z]))?\s*:\s*(?P<id>\S+?)\s*-->\s*$", re.IGNORECASE)
_END = re.compile(r"^\s*<!--\s*end\s+(?:of\s+)?answer(?:\s+(?P<side>[A-Za-z]))?\s*-->\s*$", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
# the form's own lines between answer blocks (questionnaire.form_markdown)
_TEMPLATE = re.compile(r"^\s*(#{1,6}\s*question\b.*|id:\s*`[^`]*`\s*|paste .*(below|answer).*)$", re.IGNORECASE)
_VISIBLE = re.compile(r"^\s*probe set:\s*(?P<name>\S+)\s+(?P<version>\S+)\s+\((?P<hash>sha256:[0-9a-f]+)\)\s*$",
                      re.IGNORECASE)


@dataclass
class Answers:
    """What a file held: per side (None on a single form, "A"/"B" on a pair form), probe id ->
    answer text (capped); ``questions``: every probe id the form asked, answered or not."""
    where: str
    probeset: dict[str, str] | None               # name, version, hash stated by the file
    pair: bool
    sides: dict[str | None, dict[str, str]] = field(default_factory=dict)
    questions: list[str] = field(default_factory=list)
    truncated: set[str] = field(default_factory=set)   # "side:id" of answers cut to MAX_TEXT_CHARS
    stray: list[int] = field(default_factory=list)     # Markdown: lines of text outside every answer block

    def answered(self, side: str | None = None) -> dict[str, str]:
        return self.sides.get(side, {})


def clean_answer(text: str) -> str:
    """Line ends normalised, trailing spaces, surrounding blank lines and an indentation common
    to every line (a paste indented as a whole) dropped; relative indentation stays."""
    import textwrap
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return textwrap.dedent("\n".join(lines))


def _read_text(path: Path) -> str:
    from .files import read_capped
    raw = read_capped(path, MAX_FILE_BYTES, "an answers file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    if not text.strip():
        raise ConfigError(f"{path}: the file is empty")
    return text


def _header_fields(body: str) -> dict[str, str]:
    out = {}
    for part in body.split(";"):
        k, sep, v = part.partition("=")
        if sep:
            out[k.strip().lower()] = v.strip()
    return out


def parse_markdown(text: str, where: str) -> Answers:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    info: dict[str, str] | None = None
    pair = False
    # the header is read outside answer blocks only: an answer quoting a form must not count
    sides: dict[str | None, dict[str, str]] = {}
    questions: list[str] = []
    truncated: set[str] = set()
    cur: tuple[str | None, str, int] | None = None      # (side, id, line number of the start marker)
    buf: list[str] = []
    stray: list[int] = []                               # text outside the blocks, after the first question
    fence: str | None = None                            # the question's fenced prompt, outside answers
    for no, line in enumerate(lines, 1):
        if cur is None and questions and not _START.match(line):
            f = _FENCE.match(line)
            if fence is not None:
                if f and f.group(1) == fence and not line.strip()[len(fence):]:
                    fence = None
                continue
            if f:
                fence = f.group(1)
                continue
            if line.strip() and not _TEMPLATE.match(line) and not _END.match(line):
                stray.append(no)
        if cur is not None:
            m = _END.match(line)
            if m and (m.group("side") or "").upper() == (cur[0] or ""):
                side, pid, _ = cur
                ans = clean_answer("\n".join(buf))
                if len(ans) > MAX_TEXT_CHARS:
                    ans = ans[:MAX_TEXT_CHARS]
                    truncated.add(f"{side or ''}:{pid}")
                if ans:
                    sides.setdefault(side, {})[pid] = ans
                cur, buf = None, []
                continue
            if _START.match(line):
                raise ConfigError(f"{where}: line {no}: a new answer marker inside the answer to {cur[1]} that "
                                  f"starts on line {cur[2]}: its end marker {_end_text(cur[0])!r} is missing")
            buf.append(line)
            continue
        h = _HEADER.search(line)
        if h and info is None:
            f = _header_fields(h.group("body"))
            if not all(f.get(k) for k in ("probeset", "version", "hash")):
                raise ConfigError(f"{where}: line {no}: the questionnaire header lacks probeset, version or hash")
            info = {"name": f["probeset"], "version": f["version"], "hash": f["hash"]}
            pair = f.get("form", "single").lower() == "pair"
            continue
        v = _VISIBLE.match(line)
        if v and info is None:
            info = {"name": v.group("name"), "version": v.group("version"), "hash": v.group("hash")}
            continue
        m = _START.match(line)
        if m:
            side = (m.group("side") or "").upper() or None
            if side is not None and side not in SIDES:
                raise ConfigError(f"{where}: line {no}: answer {side}: a pair form has answers A and B only")
            pid = m.group("id")
            if pid not in questions:
                questions.append(pid)
            if side in sides and pid in sides[side]:
                raise ConfigError(f"{where}: line {no}: a second answer{' ' + side if side else ''} to {pid}")
            cur, buf = (side, pid, no), []
            continue
        if _END.match(line):
            raise ConfigError(f"{where}: line {no}: an end marker with no answer marker before it")
    if cur is not None:
        raise ConfigError(f"{where}: the answer to {cur[1]} that starts on line {cur[2]} has no end marker "
                          f"({_end_text(cur[0])}); put it back on its own line after the answer")
    if not questions:
        raise ConfigError(f"{where}: no answer markers found: is this a form printed by `provenance questionnaire`?")
    used = {s for s in sides}
    if pair or any(s is not None for s in used):
        if None in used:
            raise ConfigError(f"{where}: a pair form mixes plain answers with answers A and B")
        pair = True
    return Answers(where=where, probeset=info, pair=pair, sides=sides, questions=questions, truncated=truncated,
                   stray=stray)


def _end_text(side: str | None) -> str:
    from .questionnaire import end_marker
    return end_marker(side)


def _text_of(v: Any, where: str, what: str) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str):
        raise ConfigError(f"{where}: {what} must be a string, not {type(v).__name__}")
    return v


def parse_json(doc: Any, where: str) -> Answers:
    info: dict[str, str] | None = None
    items: list[tuple[str, dict[str | None, str | None]]] = []
    pair = False
    if isinstance(doc, dict):
        if any(k in doc for k in ("probeset", "version", "hash")):
            vals = {k: doc.get(k) for k in ("probeset", "version", "hash")}
            if not all(isinstance(v, str) and v for v in vals.values()):
                raise ConfigError(f"{where}: 'probeset', 'version' and 'hash' must all be given as strings")
            info = {"name": vals["probeset"], "version": vals["version"], "hash": vals["hash"]}
        pair = doc.get("pair") is True
        if "questions" in doc:
            entries = doc["questions"]
        elif "answers" in doc:
            ans = doc["answers"]
            if isinstance(ans, list):
                entries = ans
            elif isinstance(ans, dict):
                if ans and set(ans) <= set(SIDES) and all(isinstance(v, dict) for v in ans.values()):
                    pair = True
                    by_id: dict[str, dict[str | None, str | None]] = {}
                    for side in SIDES:
                        for pid, t in (ans.get(side) or {}).items():
                            by_id.setdefault(str(pid), {})[side] = _text_of(t, where, f"answers.{side}[{pid!r}]")
                    items = list(by_id.items())
                else:
                    items = [(str(pid), {None: _text_of(t, where, f"answers[{pid!r}]")}) for pid, t in ans.items()]
                entries = None
            else:
                raise ConfigError(f"{where}: 'answers' must be an object or a list")
        else:
            raise ConfigError(f"{where}: a JSON answers file needs 'answers' or 'questions'")
    elif isinstance(doc, list):
        entries = doc
    else:
        raise ConfigError(f"{where}: a JSON answers file is an object or a list")
    if entries is not None:
        if not isinstance(entries, list):
            raise ConfigError(f"{where}: 'questions' must be a list")
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or not isinstance(e.get("id"), str) or not e["id"]:
                raise ConfigError(f"{where}: entry {i + 1} needs a string 'id'")
            got: dict[str | None, str | None] = {}
            if "answer_a" in e or "answer_b" in e:
                pair = True
                for side in SIDES:
                    got[side] = _text_of(e.get(f"answer_{side.lower()}"), where, f"entry {i + 1} answer_{side.lower()}")
            else:
                got[None] = _text_of(e.get("answer"), where, f"entry {i + 1} answer")
            items.append((e["id"], got))
    if pair and any(None in g for _, g in items if g.get(None) is not None):
        raise ConfigError(f"{where}: a pair form mixes 'answer' with 'answer_a'/'answer_b'")
    sides: dict[str | None, dict[str, str]] = {}
    questions: list[str] = []
    truncated: set[str] = set()
    for pid, got in items:
        if pid in questions:
            raise ConfigError(f"{where}: probe id {pid!r} appears twice")
        questions.append(pid)
        for side, t in got.items():
            if side is None and pair:
                continue
            ans = clean_answer(t or "")
            if len(ans) > MAX_TEXT_CHARS:
                ans = ans[:MAX_TEXT_CHARS]
                truncated.add(f"{side or ''}:{pid}")
            if ans:
                sides.setdefault(side, {})[pid] = ans
    if not questions:
        raise ConfigError(f"{where}: no questions or answers in the file")
    return Answers(where=where, probeset=info, pair=pair, sides=sides, questions=questions, truncated=truncated)


def parse_answers_text(text: str, where: str) -> Answers:
    s = text.lstrip("\ufeff \t\r\n")
    if s[:1] in ("{", "["):
        try:
            doc = json.loads(s)
        except (json.JSONDecodeError, RecursionError) as e:
            raise ConfigError(f"{where}: looks like JSON but does not parse "
                              f"({getattr(e, 'msg', type(e).__name__)} at line {getattr(e, 'lineno', '?')})") from None
        return parse_json(doc, where)
    return parse_markdown(text, where)


def check_answers(ans: Answers, probeset: ProbeSet, pair: bool | None = None) -> Answers:
    """The file against the probe set in use: same set and version, known askable ids, an answer."""
    where = ans.where
    info = probeset.info()
    if ans.probeset is not None:
        got = ans.probeset
        if (got.get("name"), got.get("version")) != (info["name"], info["version"]):
            raise ConfigError(f"{where}: this form is for probe set {got.get('name')} {got.get('version')}, but this "
                              f"tool uses {info['name']} {info['version']}; print a new form with "
                              "`provenance questionnaire` and ask its questions")
        if got.get("hash") != info["hash"]:
            raise ConfigError(f"{where}: this form's probe-set hash {str(got.get('hash'))[:23]}... differs from "
                              f"{info['name']} {info['version']} in use ({info['hash'][:23]}...); print a new form "
                              "with `provenance questionnaire`")
    known = {p.id: p for p in probeset.probes}
    for pid in ans.questions:
        p = known.get(pid)
        if p is None:
            from .text_safety import safe_line
            raise ConfigError(f"{where}: unknown question id {safe_line(pid, 80)!r}: not in probe set "
                              f"{info['name']} {info['version']}")
        if not askable(p):
            raise ConfigError(f"{where}: {pid} is not a questionnaire question (its evidence needs the API)")
    if pair is True and not ans.pair:
        raise ConfigError(f"{where}: --pair needs a pair form (answers A and B: `provenance questionnaire --pair`)")
    if pair is False and ans.pair:
        raise ConfigError(f"{where}: this is a pair form (answers A and B); add --pair")
    for side in (SIDES if ans.pair else (None,)):
        if not ans.answered(side):
            label = f" for model {side}" if side else ""
            raise ConfigError(f"{where}: no answer{label} in the file: paste at least one answer between its markers")
    return ans


def read_answers(path: Path | str, probeset: ProbeSet, pair: bool | None = None) -> Answers:
    p = Path(path)
    return check_answers(parse_answers_text(_read_text(p), str(p)), probeset, pair)
