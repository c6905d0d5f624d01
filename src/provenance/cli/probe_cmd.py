"""`provenance probe URL --model NAME`: probe one endpoint and print its attribution."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..endpoints import registry as protocols
from ..errors import EXIT_UNUSABLE
from .common import RunOptions, run_options

# The most probes in flight at once, and the default cap: every probe at once, so one
# round of latency (benchmarks/bench_probe_wall.py imports it).
MAX_CONCURRENCY = 256

# The whole-target deadline: long enough for every probe of a slow CPU server (the README's
# first probe, a llama.cpp server with 4 slots on 2 cores, takes 10-20 minutes); a dead or
# stalled endpoint ends long before it (timeout streak, liveness check: pacing.py).
DEFAULT_DEADLINE = 3600.0
DEADLINE_HELP = ("Deadline for the whole target, seconds: probes not answered by then fail with reason "
                 "'deadline'. The default (an hour) lets a slow but answering server finish every probe "
                 "(a small model on a 2-core CPU takes 10-20 minutes); an endpoint that stops answering "
                 "ends long before, after a streak of timeouts or a failed liveness check.")

EPILOG = """Examples:

  provenance probe http://127.0.0.1:8080/v1 --model qwen2.5-coder-0.5b

  provenance probe https://api.example.com/v1 --model some-model --api-key-env EXAMPLE_API_KEY --json > report.json

  provenance probe https://api.anthropic.com --protocol anthropic --model claude-x -o report.json

  provenance probe https://generativelanguage.googleapis.com --protocol gemini --model gemini-2.5-flash

  provenance probe http://127.0.0.1:8080/v1 -m qwen --until-confident 0.9 --budget 20

  provenance probe --resume 0190a3f2c4e1     # continue a run that was interrupted or cut by its deadline

  provenance probe --manual -m gpt2-chatbot --until-confident 0.9     # paste answers from a chat page
"""


def register(app: typer.Typer) -> None:
    @app.command("probe", epilog=EPILOG)
    @run_options(deadline_help=DEADLINE_HELP, deadline_default=DEFAULT_DEADLINE)
    def probe(
        url: Optional[str] = typer.Argument(None, help="The API's base URL, as OpenAI-compatible clients take it: ending "
                                                       "in /v1 (e.g. http://127.0.0.1:8080/v1, https://api.openai.com/v1), "
                                                       "without /chat/completions; other protocols take the base URL --protocol names "
                                                       "(anthropic: https://api.anthropic.com). Not with --manual."),
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Model name to request (with --manual: the name the chat page shows, recorded as the target)."),
        protocol: str = typer.Option("openai", "--protocol", help=protocols.protocol_help()),
        api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help=protocols.key_env_help()),
        header: Optional[list[str]] = typer.Option(None, "--header", "-H", help="Extra request header NAME:VALUE (repeatable)."),
        json_out: bool = typer.Option(False, "--json", help="Print exactly one JSON report on stdout."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the JSON report to this file (atomically)."),
        probes_dir: Optional[Path] = typer.Option(None, "--probes", help="Probe-set directory (default: the shipped set)."),
        model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Classifier artifact directory (default: the shipped model)."),
        concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1, max=MAX_CONCURRENCY,
                                                  help=f"Most probes in flight at once (default: every probe, up to {MAX_CONCURRENCY}). "
                                                       "The number in flight adapts to the endpoint: it starts where the server "
                                                       "says (llama.cpp's slot count from GET /props, which is also a cap; TGI's "
                                                       "/info; Ollama: 4), else at N; grows while the endpoint keeps up, halves "
                                                       "on timeouts, 429/503 or replies whose wait grew with the number in flight "
                                                       "(never below what the endpoint carried without a timeout), and never "
                                                       "exceeds N. A slow endpoint that still answers is never given up: its "
                                                       "timeouts are stretched and the probes sent again."),
        run: RunOptions = None,  # --timeout, --total-timeout, --deadline, --retries (common.run_options)
        db: Optional[Path] = typer.Option(None, "--db", help="Run store (SQLite) path; default under your data directory, or $PROVENANCE_DB."),
        no_store: bool = typer.Option(False, "--no-store", help="Do not record the run in the local store."),
        budget: Optional[int] = typer.Option(None, "--budget", min=1, help="Send at most N probes, most informative per token first."),
        until_confident: Optional[float] = typer.Option(None, "--until-confident", min=0.0, max=1.0,
                                                        help="Stop once a creator is matched with this confidence (0..1)."),
        manual: bool = typer.Option(False, "--manual", help="No endpoint: ask the questionnaire's questions one at a time and read the answers you paste from a chat page (end each with a line holding only '.'); --budget N asks at most N (default 10)."),
        resume: Optional[str] = typer.Option(None, "--resume", metavar="RUN", help="Continue a stored run that was interrupted (Ctrl-C) or cut by its deadline: its answers are kept and only the probes it lacks are sent (the URL and model are the run's; a --manual session continues with its questions)."),
    ) -> None:
        """Probe one endpoint and name the model's likely creator (--manual: from answers you paste).

        URL is the base URL ending in /v1 (the probes go to URL/chat/completions).
        """
        from ..errors import ConfigError
        from ..settings import make_target
        from .common import failed_line, load_classifier_opt, load_probeset_opt, output_report, parse_headers
        from .common import run_with_progress

        if resume is not None and not manual and not is_manual_run(resume, db):
            if no_store:
                raise ConfigError("--resume continues a stored run; --no-store does not apply")
            url, model, protocol, api_key_env = stored_target(resume, db, url, model, protocol, api_key_env)
        elif manual or resume is not None:
            if url is not None:
                raise ConfigError("--manual takes no URL: the questions are put to the model by you, on its chat page")
            if no_store:
                raise ConfigError("--manual keeps every answer in the run store as it comes; --no-store does not apply")
            from .questionnaire_cmd import manual_cmd
            manual_cmd(label=model, resume=resume, n=budget, until_confident=until_confident, json_out=json_out,
                       output=output, probes_dir=probes_dir, model_dir=model_dir, db=db)
            return
        if url is None or model is None:
            raise ConfigError("give the endpoint URL and --model NAME (or --manual to paste answers from a chat page)")

        run.check()
        target = make_target(url, model, protocol=protocol, api_key_env=api_key_env, headers=parse_headers(header))
        probeset = load_probeset_opt(probes_dir)
        classifier = load_classifier_opt(model_dir, probeset)
        if output is not None:
            from ..report import check_output_path
            check_output_path(output)
        if concurrency is None:
            concurrency = min(len(probeset.probes), MAX_CONCURRENCY)
        # the pacer starts where the server says (endpoints/capacity.py), else at the cap, and adapts
        settings = run.settings(concurrency)
        report = run_with_progress(target, show=not json_out, probeset=probeset, classifier=classifier,
                                   settings=settings, db=db, store=not no_store, budget=budget,
                                   until_confident=until_confident, resume=resume)
        echo_warning(report)
        output_report(report, output, json_out, stored=not no_store)
        if report["attribution"]["status"] == "failed":
            import sys
            sys.stderr.write(failed_line(report) + "\n")
            raise typer.Exit(EXIT_UNUSABLE)
        cut_warning(report, run.deadline, stored=not no_store)


def echo_warning(report: dict) -> None:
    """One line on stderr when the replies named another model than the one requested."""
    from ..channels.model_echo import mismatch_note
    note = mismatch_note((report.get("attribution") or {}).get("model_echo"))
    if note:
        import sys
        from ..text_safety import safe_line
        sys.stderr.write(f"provenance: warning: {safe_line(note, 400)}\n")
        sys.stderr.flush()


def cut_warning(report: dict, deadline: float, stored: bool) -> None:
    """One stderr line when the deadline cut probes: how many were answered, and how to go on."""
    inc = (report.get("run") or {}).get("incomplete")
    if not isinstance(inc, dict):
        return
    from .progress import warn_line
    rid = (report.get("run") or {}).get("id")
    how = (f"continue it with: provenance probe --resume {rid}" if stored
           else "run it again with a longer --deadline")
    warn_line(f"the deadline ({deadline:g} s) cut the run: answered {inc.get('answered')} of {inc.get('of')} "
              f"probes; {how}")


def is_manual_run(run_id: str, db: Optional[Path]) -> bool:
    """Is the stored run ``run_id`` a `probe --manual` session (its target's protocol is manual)?"""
    from ..probing.store import RunStore
    from ..transcript import MANUAL_PROTOCOL
    with RunStore.open(db) as store:
        return (store.get_run(run_id).get("target") or {}).get("protocol") == MANUAL_PROTOCOL


def stored_target(run_id: str, db: Optional[Path], url: Optional[str], model: Optional[str], protocol: str,
                  api_key_env: Optional[str]) -> tuple[str, str, str, Optional[str]]:
    """URL, model, protocol and key variable of the stored run ``run_id`` (for --resume): the run's,
    where the command line gives none (a URL or model given must be the run's: run_single checks)."""
    from ..probing.store import RunStore
    with RunStore.open(db) as store:
        t = store.get_run(run_id).get("target") or {}
    if url is None:
        protocol = str(t.get("protocol") or protocol)
    return (url or str(t.get("base_url") or ""), model or str(t.get("model") or ""), protocol,
            api_key_env if api_key_env is not None else t.get("api_key_env"))