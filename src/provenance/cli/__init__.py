"""The command line: parses options, calls the library, renders. Nothing more.

Each command group lives in its own module with a ``register(app)`` function; every
terminal rendering (verdict, claim check, tables, progress, evaluation figures) lives
in this package too (``render.py``, ``render_claim.py``, ``scan_view.py``,
``progress.py``, and the command modules' own tables).
Command modules import heavy libraries (numpy, httpx, rich tables) inside the
command bodies, so ``provenance --help`` stays instant.
"""

from __future__ import annotations

import sys

import typer

from .. import __version__
from ..errors import EXIT_INTERRUPTED, EXIT_UNEXPECTED, ProvenanceError

HELP = """Tell who made an unknown large language model.

Sends a fixed, versioned set of probe prompts to a chat endpoint, extracts
features from the answers and from the API itself, and names the likely
creator with a calibrated confidence, or says "unknown".

Exit codes: 0 run completed (also when the answer is "unknown"); 1 unexpected
error; 2 usage or configuration error; 3 endpoint unusable (no probe succeeded);
4 `verify --fail-on` and the verdict failed.

Examples:

  provenance probe http://127.0.0.1:8080/v1 --model qwen2.5-coder-0.5b

  provenance probe https://api.example.com/v1 --model m --api-key-env EXAMPLE_API_KEY --json > report.json

  provenance scan entrants.yaml --concurrency 16 --out results.jsonl

  provenance verify https://relay.example.com/v1 --model gpt-4o --fail-on inconsistent
"""

# Modules holding command groups, registered in this order.
COMMAND_MODULES = ("probe_cmd", "demo_cmd", "probes_cmd", "report_cmd", "train_cmd", "collect_cmd", "scan_cmd",
                   "runs_cmd", "classify_cmd", "verify_cmd", "questionnaire_cmd")


def build_app() -> typer.Typer:
    app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False, rich_markup_mode=None,
                      context_settings={"help_option_names": ["-h", "--help"]})

    @app.callback(invoke_without_command=True)
    def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.")) -> None:
        if version:
            typer.echo(f"provenance {__version__}")
            raise typer.Exit(0)

    import importlib
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(app)
    return app


def fail(message: str, code: int, label: str = "error") -> None:
    """One clear line on stderr (``provenance: error: ...``), then exit with ``code``."""
    from ..text_safety import safe_line
    sys.stderr.write(f"provenance: {label}: {safe_line(message)}\n")
    sys.stderr.flush()
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    app = build_app()
    try:
        app(args=argv, prog_name="provenance", standalone_mode=True)
    except ProvenanceError as e:
        fail(str(e), e.exit_code, e.label)
    except KeyboardInterrupt:
        fail("stopped by Ctrl-C", EXIT_INTERRUPTED, "interrupted")
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - the contract: one line, never a traceback with locals
        fail(f"unexpected {type(e).__name__}: {e}", EXIT_UNEXPECTED)
