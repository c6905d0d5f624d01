"""`provenance questionnaire`, and the bodies of `classify --answers`, `probe --manual` and
`eval --questionnaire` (their options live with the commands they extend)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import typer

EPILOG = """Examples:

  provenance questionnaire -o form.md

  provenance classify --answers form.md

  provenance questionnaire --pair -o battle.md

  provenance classify --answers battle.md --pair

  provenance questionnaire -n 20 --json > questions.json

  provenance probe --manual

For a model that only a chat page reaches (an arena battle, a stealth entrant):
print the form, start a new chat for each question, paste the model's whole
answer between the two marker lines under it, then classify the file. On a pair
form, paste model A's and model B's answers into their own blocks. `provenance
probe --manual` asks the same questions one at a time at the terminal. The
questions are the probes whose evidence is the answer's text alone, the most
informative per question first, as measured on the reference corpus.
"""


def register(app: typer.Typer) -> None:
    @app.command("questionnaire", epilog=EPILOG)
    def questionnaire(
        n: int = typer.Option(10, "-n", "--questions", min=1, help="Number of questions (the most informative first)."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the form to this file (atomically) instead of stdout."),
        json_out: bool = typer.Option(False, "--json", help="Print the questions as JSON: {probeset, version, hash, questions: [{id, prompt}]}."),
        pair: bool = typer.Option(False, "--pair", help="Answer blocks A and B under each question, for a side-by-side battle."),
        probes_dir: Optional[Path] = typer.Option(None, "--probes", help="Probe-set directory (default: the shipped set)."),
        model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Classifier artifact whose question ranking to use (default: the shipped model)."),
    ) -> None:
        """Print a questionnaire to paste into a chat page; `classify --answers` reads it back."""
        from .common import load_classifier_opt, load_probeset_opt
        from ..questionnaire import form_markdown, make_form, ranking_of
        from ..report import check_output_path, dumps, write_atomic

        if output is not None:
            check_output_path(output)
        probeset = load_probeset_opt(probes_dir)
        classifier = load_classifier_opt(model_dir, probeset)
        form = make_form(probeset, ranking_of(classifier), n, pair=pair)
        if not form.questions:
            from ..errors import ConfigError
            raise ConfigError(f"probe set {probeset.name} {probeset.version} has no question a chat page can ask")
        text = dumps(form.to_json()) + "\n" if json_out else form_markdown(form)
        if output is not None:
            write_atomic(output, text)
            sys.stderr.write(f"wrote {len(form.questions)} questions to {output}"
                             + ("" if json_out else f"; fill it in, then: provenance classify --answers {output}"
                                + (" --pair" if pair else "")) + "\n")
        else:
            sys.stdout.write(text)
            sys.stdout.flush()


# ------------------------------------------------------------------ classify --answers

def classify_answers_cmd(answers_file: Path, *, pair: bool, label: Optional[str], json_out: bool,
                         output: Optional[Path], probes_dir: Optional[Path], model_dir: Optional[Path],
                         db: Optional[Path], no_store: bool) -> None:
    from .common import emit_json, load_classifier_opt, load_probeset_opt
    from ..answers import read_answers
    from ..run.manual import classify_answers
    from ..report import check_output_path, dumps, write_atomic

    if output is not None:
        check_output_path(output)
    probeset = load_probeset_opt(probes_dir)
    answers = read_answers(answers_file, probeset, pair=True if pair else None)
    if answers.stray:
        from ..text_safety import safe_line
        lines = ", ".join(str(n) for n in answers.stray[:8]) + (", ..." if len(answers.stray) > 8 else "")
        sys.stderr.write(safe_line(f"provenance: warning: {answers_file}: text outside the answer markers was "
                                   f"ignored (line {lines}); an answer belongs between its two marker lines") + "\n")
    from ..run.manual import repeated_answers
    for side, got in answers.sides.items():
        rep = repeated_answers(got)
        if rep:
            pairs = "; ".join(f"{a} = {b}" for a, b in rep[:4]) + ("; ..." if len(rep) > 4 else "")
            sys.stderr.write(f"provenance: warning: {answers_file}: {'model ' + side + ': ' if side else ''}"
                             f"{len(rep)} answer(s) pasted word for word twice ({pairs}); identical answers "
                             "count as one piece of evidence\n")
    classifier = load_classifier_opt(model_dir, probeset)
    reports = classify_answers(answers, probeset, classifier, label=label, db=db, store=not no_store)
    doc: Any = reports[None] if None in reports else {"A": reports["A"], "B": reports["B"]}
    if output is not None:
        write_atomic(output, dumps(doc) + "\n")
    if json_out:
        emit_json(doc)
        return
    from rich.console import Console
    from .render import render_verdict
    con = Console(highlight=False, soft_wrap=False)
    for side, report in reports.items():
        if side is not None:
            con.print(f"\n[bold underline]Model {side}[/bold underline]")
        render_verdict(report, con)


# ------------------------------------------------------------------ probe --manual

def manual_cmd(*, label: Optional[str], resume: Optional[str], n: Optional[int], until_confident: Optional[float],
               json_out: bool, output: Optional[Path], probes_dir: Optional[Path], model_dir: Optional[Path],
               db: Optional[Path]) -> None:
    from rich.console import Console
    from .common import load_classifier_opt, load_probeset_opt, output_report
    from ..run.manual import ManualSession, stdin_lines
    from ..questionnaire import DEFAULT_QUESTIONS, choose_questions, ranking_of
    from ..probing.store import RunStore

    if output is not None:
        from ..report import check_output_path
        check_output_path(output)
    probeset = load_probeset_opt(probes_dir)
    classifier = load_classifier_opt(model_dir, probeset)
    con = Console(stderr=True, highlight=False, soft_wrap=True)
    with RunStore.open(db) as store:
        session = ManualSession(probeset, classifier, store, ui=console_ui(con), until_confident=until_confident)
        if resume:
            rid = session.resume(resume)
            con.print(f"resuming run {rid}: {len(session.pending())} of {len(session.questions)} questions left")
        else:
            questions = choose_questions(probeset, ranking_of(classifier), n or DEFAULT_QUESTIONS)
            if not questions:
                from ..errors import ConfigError
                raise ConfigError(f"probe set {probeset.name} {probeset.version} has no question a chat page can ask")
            rid = session.start(questions, label)
            con.print(f"run {rid}: {len(questions)} questions; each answer is saved as you go "
                      f"(continue later with: provenance probe --resume {rid})")
        try:
            report, why = session.run(stdin_lines(sys.stdin))
        except KeyboardInterrupt:
            from ..errors import RunInterrupted
            answered = sum(1 for r in session.results.values() if r.ok)
            line = f"{answered} of {len(session.questions)} questions answered"
            store.interrupt_run(rid, f"interrupted: {line}")
            con.print("")
            raise RunInterrupted(f"{line} and saved in run {rid}; continue with: "
                                 f"provenance probe --resume {rid}") from None
    con.print(f"[dim]stopped: {why}[/dim]\n")
    output_report(report, output, json_out)


def console_ui(con: Any) -> Any:
    """The ``manual.SessionUI`` of ``probe --manual``: questions, warnings and the best guess
    so far as rich markup on ``con`` (stderr)."""
    from ..run.manual import END_LINE, SessionUI
    from ..transcript import MAX_TEXT_CHARS
    from .render import markup_escape

    class ConsoleUI(SessionUI):
        def ask(self, probe: Any, k: int, total: int) -> None:
            con.print(f"\n[bold]Question {k} of {total}[/bold] [dim]({probe.id})[/dim] -- paste it into the chat:\n")
            con.print(markup_escape(probe.messages[0]["content"], 20_000))
            con.print(f"\n[dim]Paste the whole answer, then a line holding only '{END_LINE}' "
                      "(an empty answer skips the question; end of input stops here):[/dim]")

        def repeated(self, same_as: str) -> None:
            con.print(f"[yellow]this answer is word for word the answer to {same_as}: was the new answer "
                      "copied? (identical answers count as one piece of evidence)[/yellow]")

        def truncated(self) -> None:
            con.print(f"[yellow]the answer was cut to {MAX_TEXT_CHARS} characters[/yellow]")

        def guess(self, attribution: Any, answered: int, total: int) -> None:
            con.print(guess_line(attribution, answered, total))

    return ConsoleUI()


def guess_line(attr: Mapping[str, Any], answered: int, total: int) -> str:
    """The best guess after an answer, one line of rich markup (creator labels are ours)."""
    from .render import markup_escape
    status = attr.get("status")
    cands = attr.get("candidates") or []
    top = cands[0] if cands else {}
    conf = attr.get("confidence") or 0.0
    if status == "match":
        what = f"[green]{markup_escape(attr.get('creator'), 80)} {conf * 100:.0f}% (match)[/green]"
    elif status == "ambiguous":
        what = f"[yellow]{markup_escape(attr.get('creator'), 80)} {conf * 100:.0f}% (ambiguous)[/yellow]"
    elif status == "unknown" and top.get("creator"):
        what = (f"[cyan]unknown[/cyan] (P(unknown) {conf * 100:.0f}%; best guess "
                f"{markup_escape(top.get('creator'), 80)} {float(top.get('probability') or 0) * 100:.0f}%)")
    else:
        what = f"{markup_escape(status, 20)}"
    rest = ", ".join(f"{markup_escape(c.get('creator'), 60)} {float(c.get('probability') or 0) * 100:.0f}%"
                     for c in cands[1:3])
    return f"[bold]after {answered} of {total} answers:[/bold] {what}" + (f"  [dim]next: {rest}[/dim]" if rest else "")


# ------------------------------------------------------------------ eval --questionnaire

def parse_ns(spec: str) -> list[int]:
    from ..errors import ConfigError
    out = []
    for part in spec.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise ConfigError(f"--questionnaire {spec!r}: expected question counts like 5,10,20")
        out.append(int(part))
    return out


def eval_questionnaire(corpus: Path, spec: str, extra: Iterable[Path], probes: Optional[Path], *, as_json: bool,
                       deals: int, use_aligned: bool, other: tuple) -> None:
    import json
    from ..errors import ConfigError
    budget, stored_order, without_api = other
    if budget is not None or stored_order:
        raise ConfigError("--questionnaire chooses its own questions: leave out --budget and --stored-order")
    del without_api   # a questionnaire run never has API evidence; --without-api changes nothing
    ns = parse_ns(spec)
    from ..training.questionnaire_eval import measure

    def log(msg: str) -> None:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()
    entries = measure(corpus, ns, extra, probes, log=None if as_json else log, use_aligned=use_aligned, deals=deals)
    if as_json:
        typer.echo(json.dumps({"questionnaire": entries, "api_channel": False, "aligned_channels": use_aligned},
                              indent=1, sort_keys=True))
        return
    render_eval(entries)


def render_eval(entries: list[dict[str, Any]], console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table
    con = console or Console()
    t = Table(title="attribution from the questionnaire alone (LOMO; no API evidence; questions ranked "
                    "without each model's fold)")
    for c in ("questions", "models", "answered (mean)", "top-1", "top-3", "reported acc", "ECE", "ECE spread",
              "LOCO unknown"):
        t.add_column(c, justify="right")

    def f(x: Any) -> str:
        return "-" if x is None else (f"{x:.3f}" if isinstance(x, float) else str(x))
    for e in entries:
        sp = (e.get("deal_spread") or {}).get("lomo_ece")
        t.add_row(str(e["n"]), f(e["lomo_models"]), f(e["mean_answered"]), f(e["lomo_top1"]), f(e["lomo_top3"]),
                  f(e["lomo_reported_accuracy"]), f(e["lomo_ece"]), f"{f(sp[0])}-{f(sp[2])}" if sp else "-",
                  f(e["loco_unknown_rate"]))
    con.print(t)
    for e in entries:
        if e.get("models_without_answers"):
            con.print(f"N={e['n']}: {e['models_without_answers']} of {e['models']} corpus models answered none of "
                      "the questions and are not counted")
