"""Attribution from answers a person pasted: a transcript built from them, then the usual flow.

``transcript_of`` turns answers into a ``Transcript`` whose target is recorded as
manual (protocol ``manual``: no request was sent, so the tokenizer and API
channels report "not measured"); ``classify_answers`` classifies it with
``steps.classify_report_dict`` and records it in the run store, exactly as
``provenance classify`` and ``probe`` do. ``ManualSession`` is ``probe
--manual``: one question at a time, each answer stored as it comes so that an
interrupted session can be resumed; what the person sees is drawn by the CLI
through a ``SessionUI``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, TextIO

from ..errors import ConfigError
from ..probes import Probe, ProbeSet
from ..transcript import MANUAL_PROTOCOL, MAX_TEXT_CHARS, STATUS_SKIPPED, ProbeResult, Transcript, now_iso

NOT_ANSWERED = "not answered"           # a question left empty on the form, or skipped at the prompt
NOT_ASKED = "not asked yet"             # probe --manual: a question still to come
END_LINE = "."                          # probe --manual: a line holding only this ends an answer


def manual_target(label: str | None, source: str, side: str | None = None) -> dict[str, Any]:
    model = label or (f"model {side}" if side else "unnamed model")
    if label and side:
        model = f"{label} ({side})"
    return {"base_url": "manual", "protocol": MANUAL_PROTOCOL, "model": model, "name": None,
            "api_key_env": None, "source": source, "side": side}


def answered_result(p: Probe, text: str, truncated: bool = False) -> ProbeResult:
    capped = text[:MAX_TEXT_CHARS]
    return ProbeResult(probe_id=p.id, family=p.family, request={"manual": True, "messages": [dict(m) for m in p.messages]},
                       text=capped, truncated=truncated or len(text) > MAX_TEXT_CHARS, attempts=1,
                       finish_reason="manual")


def unanswered_result(p: Probe, why: str = NOT_ANSWERED) -> ProbeResult:
    return ProbeResult(probe_id=p.id, family=p.family, status=STATUS_SKIPPED, error=why)


def transcript_of(questions: Iterable[Probe], answers: Mapping[str, str], probeset: ProbeSet,
                  target: Mapping[str, Any], truncated: Iterable[str] = ()) -> Transcript:
    """The questions in order: answered ones ok, the others skipped (``not answered``)."""
    qs = list(questions)
    cut = set(truncated)
    results = [answered_result(p, answers[p.id], p.id in cut) if answers.get(p.id) else unanswered_result(p)
               for p in qs]
    n = sum(1 for r in results if r.ok)
    now = now_iso()
    return Transcript(target=dict(target), probeset=probeset.info(), results=results, started_at=now,
                      finished_at=now, stopped_because=f"answers pasted by hand: {n} of {len(qs)} questions answered")


def classify_and_store(transcript: Transcript, classifier: Any, probeset: ProbeSet, *, db: Path | None,
                       store: bool, run_store: Any = None) -> dict[str, Any]:
    """Classify as ``provenance classify`` does and record the run (unless ``store`` is False)."""
    from .steps import classify_report_dict
    own = None
    if store and run_store is None:
        from ..probing.store import RunStore
        run_store = own = RunStore.open(db)
    try:
        rid = None
        if store:
            rid = run_store.start_run(transcript.target, probeset)
            for r in transcript.results:
                run_store.record_result(rid, r)
        report = classify_report_dict(transcript, classifier, run_id=rid)
        if store:
            run_store.finish_run(rid, report)
        return report
    finally:
        if own is not None:
            own.close()


def classify_answers(answers: Any, probeset: ProbeSet, classifier: Any, *, label: str | None, db: Path | None,
                     store: bool) -> dict[str | None, dict[str, Any]]:
    """One report per side of an ``answers.Answers`` (None on a single form, "A" and "B" on a pair)."""
    byid = {p.id: p for p in probeset.probes}
    questions = [byid[pid] for pid in answers.questions]
    source = Path(answers.where).name
    out: dict[str | None, dict[str, Any]] = {}
    run_store = None
    if store:
        from ..probing.store import RunStore
        run_store = RunStore.open(db)
    try:
        for side in (("A", "B") if answers.pair else (None,)):
            cut = {k.split(":", 1)[1] for k in answers.truncated if k.split(":", 1)[0] == (side or "")}
            t = transcript_of(questions, answers.answered(side), probeset, manual_target(label, source, side), cut)
            out[side] = classify_and_store(t, classifier, probeset, db=db, store=store, run_store=run_store)
    finally:
        if run_store is not None:
            run_store.close()
    return out


# ------------------------------------------------------------------ probe --manual

def repeated_answers(answers: Mapping[str, str]) -> list[tuple[str, str]]:
    """(id, id of an earlier question with the same answer) for answers pasted twice word for
    word: usually a clipboard that was not refreshed."""
    first: dict[str, str] = {}
    out = []
    for pid, text in answers.items():
        if text in first:
            out.append((pid, first[text]))
        else:
            first[text] = pid
    return out


def read_answer(lines: Iterator[str], limit: int = MAX_TEXT_CHARS) -> tuple[str, bool, bool]:
    """One pasted answer: lines up to one holding only ``.`` (or the end of input).

    Returns (text, truncated, ended): ``ended`` is True when the input ran out. Text beyond
    ``limit`` characters is read and dropped (the paste must still be consumed)."""
    buf: list[str] = []
    size = 0
    truncated = False
    for line in lines:
        s = line.rstrip("\r\n")
        if s.strip() == END_LINE:
            return _join(buf), truncated, False
        if size < limit:
            buf.append(s)
            size += len(s) + 1
        else:
            truncated = True
    return _join(buf), truncated, True


def _join(buf: list[str]) -> str:
    from ..answers import clean_answer
    return clean_answer("\n".join(buf))[:MAX_TEXT_CHARS]


class SessionUI:
    """What ``ManualSession`` shows the person answering; the CLI's draws it on the terminal
    (``cli/questionnaire_cmd.py: ConsoleUI``). Each method is called at most once per question."""

    def ask(self, probe: Probe, k: int, total: int) -> None:
        """Question ``k`` of ``total``: show it, and say how to paste the answer."""

    def repeated(self, same_as: str) -> None:
        """The answer just read is word for word the answer to question ``same_as``."""

    def truncated(self) -> None:
        """The answer just read was cut to ``MAX_TEXT_CHARS``."""

    def guess(self, attribution: Mapping[str, Any], answered: int, total: int) -> None:
        """The best guess after ``answered`` answers (``Attribution.to_dict()``)."""


class ManualSession:
    """``provenance probe --manual``: ask, read, store, show the best guess, repeat.

    Every question is recorded at the start as skipped (``not asked yet``); each answer
    replaces its row the moment it is read (committed), so ``--resume RUN`` finds the
    questions and what is left of them in the store."""

    def __init__(self, probeset: ProbeSet, classifier: Any, run_store: Any, *,
                 ui: SessionUI, until_confident: float | None = None) -> None:
        self.probeset = probeset
        self.classifier = classifier
        self.store = run_store
        self.ui = ui
        self.until_confident = until_confident
        self.run_id: str | None = None
        self.questions: list[Probe] = []
        self.results: dict[str, ProbeResult] = {}
        self.target: dict[str, Any] = {}
        self.started_at = now_iso()

    # -- starting ----------------------------------------------------------------------------
    def start(self, questions: list[Probe], label: str | None) -> str:
        self.questions = list(questions)
        self.target = manual_target(label, "interactive")
        self.run_id = self.store.start_run(self.target, self.probeset)
        for p in self.questions:
            r = unanswered_result(p, NOT_ASKED)
            self.results[p.id] = r
            self.store.record_result(self.run_id, r)
        return self.run_id

    def resume(self, run_id: str) -> str:
        rid = self.store.resolve_id(run_id)
        row = self.store.get_run(rid)
        target = row.get("target") or {}
        if target.get("protocol") != MANUAL_PROTOCOL or target.get("source") != "interactive":
            raise ConfigError(f"run {rid} is not a `probe --manual` session; it cannot be resumed here")
        info = self.probeset.info()
        if (row.get("probeset") or {}).get("hash") != info["hash"]:
            ps = row.get("probeset") or {}
            raise ConfigError(f"run {rid} asked the questions of probe set {ps.get('name')} {ps.get('version')}, "
                              f"but this tool uses {info['name']} {info['version']}; start a new session")
        transcript = self.store.load_transcript(rid)
        byid = {p.id: p for p in self.probeset.probes}
        self.questions = [byid[r.probe_id] for r in transcript.results if r.probe_id in byid]
        if not self.questions:
            raise ConfigError(f"run {rid} holds no questions")
        self.results = {r.probe_id: r for r in transcript.results}
        self.target = dict(target)
        self.run_id = rid
        self.started_at = transcript.started_at or self.started_at
        return rid

    # -- state ---------------------------------------------------------------------------------
    def pending(self) -> list[Probe]:
        return [p for p in self.questions if self.results[p.id].error == NOT_ASKED]

    def transcript(self) -> Transcript:
        results = [self.results[p.id] for p in self.questions]
        n = sum(1 for r in results if r.ok)
        return Transcript(target=dict(self.target), probeset=self.probeset.info(), results=results,
                          started_at=self.started_at, finished_at=now_iso(),
                          stopped_because=f"answers pasted by hand: {n} of {len(results)} questions answered")

    def record(self, p: Probe, text: str, truncated: bool) -> None:
        r = answered_result(p, text, truncated) if text else unanswered_result(p, NOT_ANSWERED)
        self.results[p.id] = r
        self.store.record_result(self.run_id, r)

    # -- the loop ------------------------------------------------------------------------------
    def run(self, lines: Iterator[str]) -> tuple[dict[str, Any], str]:
        """Ask every pending question; returns (report, why it stopped). The report is stored."""
        from ..attribute import finalize
        from .steps import classify_report_dict
        total = len(self.questions)
        why = "every question asked"
        for p in self.pending():
            self.ui.ask(p, self.questions.index(p) + 1, total)
            text, truncated, ended = read_answer(lines)
            if ended and not text:
                why = "input ended"
                break
            same = next((q.id for q in self.questions if q.id != p.id and self.results[q.id].ok
                         and self.results[q.id].text == text), None) if text else None
            self.record(p, text, truncated)
            if same:
                self.ui.repeated(same)
            if truncated:
                self.ui.truncated()
            a = finalize(self.transcript(), self.classifier)
            self.ui.guess(a.to_dict(), sum(1 for r in self.results.values() if r.ok), total)
            if (self.until_confident is not None and a.status == "match"
                    and a.confidence >= self.until_confident):
                why = f"confident: {a.creator} at {a.confidence:.2f} >= {self.until_confident:.2f}"
                break
            if ended:
                why = "input ended"
                break
        t = self.transcript()
        if not any(r.ok for r in t.results):
            raise ConfigError(f"no answer given ({why}); the session is kept: "
                              f"provenance probe --manual --resume {self.run_id}")
        if why.startswith("confident") or why == "input ended":
            t.stopped_because = f"{t.stopped_because} ({why})"
        report = classify_report_dict(t, self.classifier, run_id=self.run_id)
        self.store.finish_run(self.run_id, report)
        return report, why


def stdin_lines(stream: TextIO) -> Iterator[str]:
    while True:
        line = stream.readline()
        if not line:
            return
        yield line
