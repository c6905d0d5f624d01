"""`provenance classify`: re-classify recorded answers (a report file or a stored run) with the
current model, or classify answers pasted from a chat page (--answers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from .common import DB_HELP


# one example a paragraph: the help formatter rewraps a paragraph into one run of text
EPILOG = """Examples:

  provenance classify report.json --json

  provenance classify --run 018f2a7c

  provenance classify report.json --claim Anthropic

  provenance classify --answers form.md

  provenance classify --answers battle.md --pair
"""


def register(app: typer.Typer) -> None:
    @app.command("classify", epilog=EPILOG)
    def classify(
        report_file: Optional[Path] = typer.Argument(None, metavar="[REPORT.json]", help="A JSON report to re-classify."),
        run_id: Optional[str] = typer.Option(None, "--run", help="Re-classify a stored run instead of a file."),
        answers_file: Optional[Path] = typer.Option(None, "--answers", metavar="FILE",
                                                    help="Classify answers pasted from a chat page: a filled-in `provenance questionnaire` form (Markdown) or JSON."),
        pair: bool = typer.Option(False, "--pair", help="With --answers: a pair form (side-by-side battle); two attributions, A and B."),
        label: Optional[str] = typer.Option(None, "--label", help="With --answers: the model's name as the chat page shows it (recorded as the target)."),
        no_store: bool = typer.Option(False, "--no-store", help="With --answers: do not record the run in the local store."),
        json_out: bool = typer.Option(False, "--json", help="Print the new JSON report."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the new report here (atomically)."),
        probes_dir: Optional[Path] = typer.Option(None, "--probes", help="Probe-set directory (default: the shipped set)."),
        model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Classifier artifact directory (default: the shipped model)."),
        db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
        claim: Optional[str] = typer.Option(None, "--claim", metavar="CREATOR[/FAMILY]",
                                            help="Check the answers against this claimed maker (default: re-check the claim the report carries, if any)."),
    ) -> None:
        """Re-classify recorded raw responses with the current model (no network traffic), or
        classify answers pasted from a chat page (--answers).

        A report that carries a claim check (provenance verify, scan) has its claim
        re-checked too. A stored run that was interrupted counts the probes it never sent.
        """
        from ..run.steps import classify_report_dict
        from ..claim import parse_claim
        from ..errors import ConfigError
        from ..verify import claim_of_report
        from .common import load_classifier_opt, load_probeset_opt, output_report

        if sum(x is not None for x in (report_file, run_id, answers_file)) != 1:
            raise ConfigError("give a REPORT.json file, --run ID or --answers FILE (exactly one)")
        if answers_file is None and (pair or label is not None or no_store):
            raise ConfigError("--pair, --label and --no-store go with --answers")
        if answers_file is not None:
            from .questionnaire_cmd import classify_answers_cmd
            classify_answers_cmd(answers_file, pair=pair, label=label, json_out=json_out, output=output,
                                 probes_dir=probes_dir, model_dir=model_dir, db=db, no_store=no_store)
            return
        if output is not None:
            from ..report import check_output_path
            check_output_path(output)
        probeset = load_probeset_opt(probes_dir)
        classifier = load_classifier_opt(model_dir, probeset)
        the_claim = parse_claim(claim) if claim is not None else None
        transcript, doc, rid = _recorded(report_file, run_id, db, probeset)
        if the_claim is None:
            the_claim = claim_of_report(doc)
        if not transcript.results:
            raise ConfigError("nothing to classify: no probe results recorded")
        report = classify_report_dict(transcript, classifier, run_id=rid if isinstance(rid, str) else None,
                                      claim=the_claim)
        if json_out or report.get("claim") is None:
            output_report(report, output, json_out)
        else:
            if output is not None:
                from ..report import dumps, write_atomic
                write_atomic(output, dumps(report) + "\n")
            from .render_claim import render_claim_and_verdict
            render_claim_and_verdict(report)


def _recorded(report_file: Optional[Path], run_id: Optional[str], db: Optional[Path],
              probeset: Any = None) -> tuple[Any, dict, Any]:
    """(transcript, report, run id) of a report file, or of a stored run (its report ``{}``
    when it has none: an unfinished run, whose unsent probes of ``probeset`` count as skipped)."""
    if report_file is not None:
        from ..report import read_report, transcript_from_report
        doc = read_report(report_file)
        return transcript_from_report(doc), doc, (doc.get("run") or {}).get("id")
    from ..errors import ConfigError
    from ..probing.store import RunStore
    with RunStore.open(db) as store:
        rid = store.resolve_id(run_id or "")
        transcript = store.load_transcript(rid, probeset)
        try:
            doc = store.load_report(rid)
        except ConfigError:
            doc = {}            # an unfinished run has no report, so no claim to re-check
    return transcript, doc, rid
