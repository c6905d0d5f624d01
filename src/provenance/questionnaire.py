"""The questionnaire: the probes a person can put to a model that only a chat page reaches.

Which questions, in which order: the behavioural probes whose evidence is the
answer's text alone (no token counts, headers, streaming, request parameters,
system prompt), ranked by the information per question the trained model
measured on the reference corpus (``probe_order`` in its manifest, made by
``train.rank_probes`` at training time). Probes no corpus model answered have
no measured information; they follow the measured ones. Nothing here names a
probe id: the choice follows whatever probe set and model are shipped.

The form (``form_markdown``) is headed by the probe set's name, version and
hash; each question sits in a fenced block and its answer between two marker
lines (HTML comments, invisible when the Markdown is rendered)::

    <!-- answer: identity.id.ask_1ead99 -->
    ...the pasted answer, Markdown, code fences and headings included...
    <!-- end answer -->

A pair form (``pair=True``, a side-by-side battle) has an ``answer A`` and an
``answer B`` block under each question. ``answers.read_answers`` reads it back.
Light imports only: ``provenance questionnaire`` must start fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .probes import Probe, ProbeSet
# re-exported: the manual runs' target protocol, and what they cannot measure
from .transcript import MANUAL_PROTOCOL, NOT_MEASURED  # noqa: F401

DEFAULT_QUESTIONS = 10
FORM_TAG = "provenance questionnaire"
SIDES = ("A", "B")


def askable(p: Probe) -> bool:
    """A probe a person can ask on a chat page: a behavioural one (its evidence is the answer's
    text), one user message, no request parameters (a chat page sets none)."""
    return (p.behavioural and p.mode == "chat" and not p.params and len(p.messages) == 1
            and p.messages[0].get("role") == "user" and bool(p.messages[0].get("content", "").strip()))


def question_gain(entry: Mapping[str, Any]) -> float | None:
    """Measured information of one question, from a ``probe_order`` entry; None when no corpus
    model answered the probe (its information is then an assumption, not a measurement).

    ``info_per_question`` if the entry states it, else ``info_per_token`` times the probe's
    ``max_tokens`` (rank_probes divides the probe's gain over chance by its token budget)."""
    if not entry.get("answers"):
        return None
    if isinstance(entry.get("info_per_question"), (int, float)):
        return float(entry["info_per_question"])
    try:
        return float(entry["info_per_token"]) * max(1, int(entry.get("max_tokens") or 1)) / 1000.0
    except (KeyError, TypeError, ValueError):
        return None


def question_order(probeset: ProbeSet, ranking: Iterable[Any] | None) -> list[Probe]:
    """Every askable probe of ``probeset``, most informative per question first.

    ``ranking``: a ``probe_order`` list (dicts with id, answers, info_per_token, max_tokens;
    or bare ids, kept in their order). Measured probes by decreasing information (ties: the
    ranking's order); then unmeasured ranked ones in ranking order; then askable probes the
    ranking does not name, in probe-set order (identity first)."""
    askables = {p.id: p for p in probeset.probes if askable(p)}
    measured: list[tuple[float, int, Probe]] = []
    unmeasured: list[Probe] = []
    seen: set[str] = set()
    for i, e in enumerate(ranking or []):
        pid = e.get("id") if isinstance(e, Mapping) else e
        if not isinstance(pid, str) or pid not in askables or pid in seen:
            continue
        seen.add(pid)
        g = question_gain(e) if isinstance(e, Mapping) else None
        if g is None and isinstance(e, Mapping):
            unmeasured.append(askables[pid])
        elif g is None:
            measured.append((0.0, i, askables[pid]))       # bare ids: their order is the ranking
        else:
            measured.append((-g, i, askables[pid]))
    if measured and all(k == 0.0 for k, _, _ in measured):
        measured.sort(key=lambda t: t[1])
    else:
        measured.sort(key=lambda t: (t[0], t[1]))
    rest = [p for p in askables.values() if p.id not in seen]
    rest.sort(key=lambda p: p.family != "identity")           # stable: identity first
    return [p for _, _, p in measured] + unmeasured + rest


def ranking_of(classifier: Any) -> list[Any]:
    """The stored ``probe_order`` of a trained classifier (empty for the keyword baseline)."""
    return list((getattr(classifier, "manifest", None) or {}).get("probe_order") or [])


def choose_questions(probeset: ProbeSet, ranking: Iterable[Any] | None, n: int | None = DEFAULT_QUESTIONS
                     ) -> list[Probe]:
    order = question_order(probeset, ranking)
    return order if n is None else order[:max(0, n)]


@dataclass(frozen=True)
class Form:
    probeset: dict[str, str]            # name, version, hash
    questions: tuple[Probe, ...]
    pair: bool = False

    def prompt(self, p: Probe) -> str:
        return str(p.messages[0]["content"])

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"probeset": self.probeset["name"], "version": self.probeset["version"],
                               "hash": self.probeset["hash"]}
        if self.pair:
            doc["pair"] = True
        doc["questions"] = [{"id": p.id, "prompt": self.prompt(p)} for p in self.questions]
        return doc


def make_form(probeset: ProbeSet, ranking: Iterable[Any] | None, n: int = DEFAULT_QUESTIONS,
              pair: bool = False) -> Form:
    return Form(probeset=probeset.info(), questions=tuple(choose_questions(probeset, ranking, n)), pair=pair)


def _fence(text: str) -> str:
    """A backtick fence longer than any backtick run inside ``text``."""
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def header_comment(info: Mapping[str, str], pair: bool) -> str:
    return (f"<!-- {FORM_TAG}; probeset={info['name']}; version={info['version']}; hash={info['hash']}; "
            f"form={'pair' if pair else 'single'} -->")


def start_marker(pid: str, side: str | None = None) -> str:
    return f"<!-- answer {side}: {pid} -->" if side else f"<!-- answer: {pid} -->"


def end_marker(side: str | None = None) -> str:
    return f"<!-- end answer {side} -->" if side else "<!-- end answer -->"


def form_markdown(form: Form) -> str:
    info = form.probeset
    n = len(form.questions)
    lines = [
        "# Questionnaire: who made this model?",
        "",
        header_comment(info, form.pair),
        f"Probe set: {info['name']} {info['version']} ({info['hash']})",
        "",
        "How to fill it in:",
        "",
        "1. Start a new chat for each question, so that earlier answers do not colour later ones.",
        "2. Copy the question exactly as it stands in its block and send it.",
        ("3. Paste model A's whole answer between the `answer A` marker lines, and model B's "
         "between the `answer B` ones. Keep the marker lines." if form.pair else
         "3. Paste the model's whole answer between the two marker lines under the question. "
         "Keep the marker lines."),
        "4. Leave an answer empty to skip its question; any number answered from 1 up works, more is better.",
        f"5. Then run: `provenance classify --answers THIS_FILE{' --pair' if form.pair else ''}`",
        "",
    ]
    for i, p in enumerate(form.questions, 1):
        prompt = form.prompt(p)
        fence = _fence(prompt)
        lines += [f"## Question {i} of {n}", "", f"id: `{p.id}`", "", f"{fence}text", prompt, fence, ""]
        for side in (SIDES if form.pair else (None,)):
            who = f"model {side}'s answer" if side else "the model's answer"
            lines += [f"Paste {who} below, above the end marker:", "", start_marker(p.id, side), "",
                      end_marker(side), ""]
    return "\n".join(lines)
