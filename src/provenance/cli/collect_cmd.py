"""`provenance collect ENDPOINT --model NAME --creator CREATOR -o FILE`: record a known model's answers."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..endpoints import registry as protocols
EPILOG = """Appends one JSON line per answer, in the reference corpus record format
(source/prompt_id = the probe's corpus reference split at the first ':',
extra.collected = true, extra.probe_id = the probe). Safe to interrupt: a
re-run skips the (model, variant, probe, repeat) already in FILE.
A FILE ending in .gz is written gzip-compressed.

Examples:

  provenance collect http://127.0.0.1:8080/v1 --model qwen2.5-coder-0.5b --creator Alibaba --family Qwen2.5 -o data/collected/local-models.jsonl

  provenance collect http://127.0.0.1:8080/v1 --model qwen2.5-coder-0.5b --creator Alibaba --system-prompt "You are Zeus." -o out.jsonl.gz
"""


def register(app: typer.Typer) -> None:
    @app.command("collect", epilog=EPILOG)
    def collect(
        endpoint: str = typer.Argument(..., help="Base URL of an endpoint serving a model whose creator is known (ending in /v1 for OpenAI-compatible)."),
        model: str = typer.Option(..., "--model", "-m", help="Model name to request; also the record's `model`."),
        creator: str = typer.Option(..., "--creator", help="The model's creator, as the corpus names creators (e.g. Alibaba, Meta, 'Hugging Face')."),
        output: Path = typer.Option(..., "--output", "-o", help="JSONL file to append to (.gz: gzip)."),
        family: Optional[str] = typer.Option(None, "--family", help="Model family, recorded in extra.family (e.g. Qwen2.5)."),
        system_prompt: Optional[str] = typer.Option(None, "--system-prompt", help="System message prepended to every probe; records get variant 'sys-prompt'."),
        repeats: int = typer.Option(1, "--repeats", help="Times to ask each probe (1..100)."),
        probes_dir: Optional[Path] = typer.Option(None, "--probes", help="Probe-set directory (default: the shipped set)."),
        protocol: str = typer.Option("openai", "--protocol", help=protocols.protocol_help()),
        api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help=protocols.key_env_help()),
        concurrency: int = typer.Option(4, "--concurrency", min=1, max=64, help="Probes in flight at once."),
        timeout: float = typer.Option(180.0, "--timeout", min=0.1, help="Read timeout per request, seconds."),
        deadline: float = typer.Option(3600.0, "--deadline", min=1.0, help="Deadline per repeat, seconds (unfinished probes are retried by a re-run)."),
        retries: int = typer.Option(2, "--retries", min=0, max=10, help="Retries on 408/429/5xx and transport errors."),
        json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-probe progress lines."),
    ) -> None:
        """Run the behavioural probes against a known model and append its answers as corpus records."""
        import sys

        from ..collect import collect as run_collect
        from ..settings import RunSettings
        from .common import load_probeset_opt

        def progress(line: str) -> None:
            from ..text_safety import safe_line
            sys.stderr.write(safe_line(line) + "\n")
            sys.stderr.flush()

        probeset = load_probeset_opt(probes_dir)
        settings = RunSettings(concurrency=concurrency, read_timeout=timeout, deadline=deadline, retries=retries,
                               request_timeout=max(timeout * 2, timeout + 30))
        summary = run_collect(endpoint, model=model, creator=creator, output=output, family=family,
                              system_prompt=system_prompt, repeats=repeats, probeset=probeset,
                              protocol=protocol, api_key_env=api_key_env, settings=settings,
                              progress=None if quiet or json_out else progress)
        if json_out:
            from .common import emit_json
            emit_json(summary.to_dict())
        else:
            from ..text_safety import safe_line
            sys.stderr.write(safe_line(
                f"collected {summary.written} new answer(s) into {summary.output} "
                f"({summary.already} already there, {summary.failed} failed) in {summary.seconds:.1f} s; "
                f"tokens: {summary.prompt_tokens} prompt + {summary.completion_tokens} completion") + "\n")
