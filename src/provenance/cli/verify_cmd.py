"""`provenance verify URL --model NAME [--claim CREATOR[/FAMILY]]`: is the endpoint what it claims?"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..endpoints import registry as protocols
from ..errors import EXIT_UNUSABLE
from .common import RunOptions, run_options

DEFAULT_CONCURRENCY = 16
FAIL_ON = ("inconsistent", "inconclusive")

EPILOG = """Examples:

  provenance verify https://api.example.com/v1 --model gpt-4o --api-key-env EXAMPLE_API_KEY

  provenance verify http://127.0.0.1:8080/v1 --model my-model --claim Alibaba/Qwen2.5

  provenance verify https://relay.example.com/v1 -m claude-sonnet-4 --json --fail-on inconsistent > report.json

The claim comes from --claim, or from the model name (docs/claims.md lists the
name patterns). Verdict: consistent, inconsistent or inconclusive, with the
probability of the claimed maker; a tokenizer the claimed maker never uses is
decisive. Probes go out in batches (--concurrency) and stop once the verdict is
settled (--all-probes sends every probe).

Exit codes: 0 run completed, whatever the verdict; 4 with --fail-on inconsistent
and an inconsistent verdict (--fail-on inconclusive: anything but consistent);
2 usage or configuration error (also a model name that maps to no maker and no
--claim); 3 endpoint unusable; 1 unexpected error.
"""


def register(app: typer.Typer) -> None:
    @app.command("verify", epilog=EPILOG)
    @run_options()
    def verify(
        url: str = typer.Argument(..., help="Base URL as OpenAI-compatible clients take it (ending in /v1), or the one --protocol names."),
        model: str = typer.Option(..., "--model", "-m", help="Model name to request."),
        claim: Optional[str] = typer.Option(None, "--claim", metavar="CREATOR[/FAMILY]",
                                            help="The maker (and family) the endpoint claims, e.g. OpenAI/GPT-4o (default: read from the model name)."),
        fail_on: Optional[str] = typer.Option(None, "--fail-on", metavar="VERDICT",
                                              help="Exit 4 when the verdict is inconsistent (or, with 'inconclusive', anything but consistent)."),
        protocol: str = typer.Option("openai", "--protocol", help=protocols.protocol_help()),
        api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help=protocols.key_env_help()),
        header: Optional[list[str]] = typer.Option(None, "--header", "-H", help="Extra request header NAME:VALUE (repeatable)."),
        json_out: bool = typer.Option(False, "--json", help="Print exactly one JSON report (with its 'claim' object) on stdout."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the JSON report to this file (atomically)."),
        probes_dir: Optional[Path] = typer.Option(None, "--probes", help="Probe-set directory (default: the shipped set)."),
        model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Classifier artifact directory (default: the shipped model)."),
        concurrency: int = typer.Option(DEFAULT_CONCURRENCY, "--concurrency", min=1, max=256,
                                        help="Probes in flight at once; also the batch size between verdict checks."),
        all_probes: bool = typer.Option(False, "--all-probes", help="Send every probe instead of stopping once the verdict is settled."),
        budget: Optional[int] = typer.Option(None, "--budget", min=1, help="Send at most N probes."),
        run: RunOptions = None,  # --timeout, --total-timeout, --deadline, --retries (common.run_options)
        db: Optional[Path] = typer.Option(None, "--db", help="Run store (SQLite) path; default under your data directory, or $PROVENANCE_DB."),
        no_store: bool = typer.Option(False, "--no-store", help="Do not record the run in the local store."),
    ) -> None:
        """Check that an endpoint serves what it claims: a verdict on its claimed maker."""
        from ..claim import claim_for
        from ..errors import ConfigError
        from ..settings import make_target
        from ..verify import exit_code_for
        from .common import load_classifier_opt, load_probeset_opt, output_report, parse_headers, run_with_progress

        if fail_on is not None and fail_on not in FAIL_ON:
            raise ConfigError(f"--fail-on: expected one of {', '.join(FAIL_ON)}")
        the_claim = claim_for(model, claim)
        target = make_target(url, model, protocol=protocol, api_key_env=api_key_env, headers=parse_headers(header))
        probeset = load_probeset_opt(probes_dir)
        classifier = load_classifier_opt(model_dir, probeset)
        if output is not None:
            from ..report import check_output_path
            check_output_path(output)
        settings = run.settings(concurrency)
        report = run_with_progress(target, show=not json_out, probeset=probeset, classifier=classifier,
                                   settings=settings, db=db, store=not no_store, budget=budget,
                                   claim=the_claim, until_settled=not all_probes,
                                   go_on="provenance probe --resume {run}, then provenance classify --run {run} "
                                         f"--claim '{the_claim.creator}'")
        if output is not None:
            from ..report import dumps, write_atomic
            write_atomic(output, dumps(report) + "\n")
        if json_out:
            output_report(report, None, True)
        else:
            from .render_claim import render_claim_and_verdict
            render_claim_and_verdict(report)
        if report["attribution"]["status"] == "failed":
            raise typer.Exit(EXIT_UNUSABLE)
        code = exit_code_for(str((report.get("claim") or {}).get("verdict")), fail_on)
        if code:
            raise typer.Exit(code)
