"""Option parsing helpers shared by command modules (light imports only)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError


def parse_headers(values: list[str] | None) -> dict[str, str]:
    from ..settings import parse_header
    out: dict[str, str] = {}
    for v in values or []:
        kv = parse_header(v)
        if kv is None:
            raise ConfigError(f"--header {v!r}: expected NAME:VALUE")
        out[kv[0]] = kv[1]
    return out


def load_probeset_opt(probes_dir: Path | None):
    from ..probes import load_probeset
    return load_probeset(probes_dir)


def load_classifier_opt(model_dir: Path | None, probeset: Any):
    from ..classifier import load_classifier
    return load_classifier(model_dir, probeset=probeset)


def emit_json(doc: Any) -> None:
    from ..report import dumps
    sys.stdout.write(dumps(doc) + "\n")
    sys.stdout.flush()


def stderr_console():
    from rich.console import Console
    return Console(stderr=True, highlight=False)


def output_report(report: dict, output: Path | None, json_out: bool) -> None:
    """Write the report to ``output`` (atomically) if given; print it as JSON or as a verdict."""
    if output is not None:
        from ..report import dumps, write_atomic
        write_atomic(output, dumps(report) + "\n")
    if json_out:
        emit_json(report)
    else:
        from .render import render_verdict
        render_verdict(report)


TIMEOUT_HELP = ("Read timeout, seconds: the longest wait for the first or the next byte of a reply. "
                "Each request's TOTAL time, every retry included, is bounded by --total-timeout "
                "(default twice this), so a reply that trickles or stalls ends too.")
TOTAL_TIMEOUT_HELP = ("Total time bound for one request, seconds, every attempt and backoff included "
                      "(default: twice --timeout). A probe cut by it is recorded as timed out, with why.")


def total_timeout(timeout: float, total: float | None) -> float:
    """The total-time bound for one request: ``total``, or twice the read timeout."""
    from ..errors import ConfigError as _CE
    if total is None:
        return 2.0 * timeout
    if total < timeout:
        raise _CE(f"--total-timeout {total:g} is shorter than --timeout {timeout:g}")
    return total


def failed_line(report: dict) -> str:
    """One line on stderr for a run that found the endpoint unusable."""
    from ..text_safety import safe_line
    a = report.get("attribution") or {}
    t = report.get("target") or {}
    why = (a.get("reliability") or ["no probe succeeded"])[0]
    return safe_line(f"error: {t.get('base_url')}: {why}", 400)
