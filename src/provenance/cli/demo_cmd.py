"""`provenance demo`: probe a loopback server that replays a real model's recorded answers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

NEXT = """Next, point it at a real endpoint (any OpenAI-compatible base URL ending in /v1):

  provenance probe https://api.example.com/v1 --model MODEL --api-key-env MY_API_KEY
  provenance probe http://127.0.0.1:8080/v1 --model MODEL                   # a local llama.cpp/vLLM/Ollama server

The key is read from the environment variable you name, never from the command line.
To run a real model on this machine, see "Real models on this machine" in docs/usage.md."""


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        json_out: bool = typer.Option(False, "--json", help="Print exactly one JSON report on stdout."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the JSON report to this file."),
        probes_dir: Optional[Path] = typer.Option(None, "--probes", help="Probe-set directory (default: the shipped set); "
                                                                           "probes the model was not trained on are sent and named, not scored."),
    ) -> None:
        """See a verdict in seconds, no endpoint needed.

        Starts a server on 127.0.0.1 that replays what Qwen2.5-Coder-0.5B-Instruct (Alibaba)
        answered to these probes when this project ran it on llama.cpp, probes it through the
        real HTTP path, and prints the verdict. Nothing leaves this machine; the run is not stored.

        Example: provenance demo (--probes DIR: a probe set of your own, e.g. with a probe
        you added; the shipped model scores the probes it was trained on and names the others)
        """
        from rich.console import Console

        from .common import load_classifier_opt, load_probeset_opt, output_report
        from ..demo import Replay, load_replay, replay_server
        from .render import markup_escape
        from ..run.target import run_single
        from .progress import probe_progress
        from ..settings import RunSettings, make_target

        if output is not None:
            from ..report import check_output_path
            check_output_path(output)
        note = Console(stderr=json_out, highlight=False)
        replay = Replay(load_replay())
        probeset = load_probeset_opt(probes_dir)
        classifier = load_classifier_opt(None, probeset)
        with replay_server(replay) as srv:
            note.print(f"[bold]Demo:[/bold] a loopback server at {srv.base_url} replays the answers "
                       f"{markup_escape(replay.model_card)} gave to these probes on this project's own runs "
                       "(recorded, not live; its serving-stack evidence describes the replay server).")
            target = make_target(srv.base_url, replay.model, require_key=False)
            settings = RunSettings(concurrency=min(len(probeset.probes), 64), read_timeout=30, deadline=120,
                                   retries=1, request_timeout=60)
            with probe_progress(not json_out, len(probeset.probes)) as on_progress:
                report = run_single(target, probeset=probeset, classifier=classifier, settings=settings,
                                    store=False, on_progress=on_progress)
        if replay.misses:
            note.print(f"[dim]{replay.misses} probe(s) had no recorded answer and got a fallback "
                       "(the probe set changed since the demo data was built)[/dim]")
        output_report(report, output, json_out, stored=False)
        note.print("")
        note.print(markup_escape(NEXT, 4000))
        sys.stdout.flush()
