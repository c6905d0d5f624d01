"""A newcomer's second hour (issue 36 item 10): help examples one a line, one error prefix, counts
that say what was sent, and a hint for a base URL without /v1. Real loopback servers."""

from __future__ import annotations

import re

import pytest

from provenance.testing.fakeserver import Fault

from factory import free_port, keyword_cli, run_cli

COMMANDS = (["probe"], ["scan"], ["verify"], ["classify"], ["train"], ["eval"], ["demo"], ["collect"],
            ["questionnaire"], ["runs", "list"], ["runs", "show"], ["report", "export"], ["probes", "list"])


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_help_examples_do_not_run_together(cmd, tmp_path) -> None:
    p = run_cli([*cmd, "--help"], tmp_path, env={"COLUMNS": "200"})
    assert p.returncode == 0, p.stderr
    for line in p.stdout.splitlines():
        assert len(re.findall(r"(?:^|\s)provenance [a-z]", line)) <= 1, line


def test_unreachable_endpoint_counts_what_was_sent_and_has_one_error_prefix(tmp_path, probes_dir) -> None:
    """A refused port: the endpoint is declared not answering after a few probes; the rest were
    never sent, and the counts say so instead of 'N failed' for the whole set."""
    url = f"http://127.0.0.1:{free_port()}/v1"
    p = keyword_cli(["probe", url, "-m", "m", "--no-store", "--probes", probes_dir, "--retries", "0"],
                    env={"COLUMNS": "200"})
    assert p.returncode == 3
    err = p.stderr.strip().splitlines()
    assert err == [e for e in err if e.startswith("provenance: ")], p.stderr     # one prefix for every line
    assert err[-1].startswith(f"provenance: error: {url}: ")


def test_not_sent_probes_are_not_counted_as_failed(tmp_path) -> None:
    from provenance.cli.render import probe_counts
    report = {"attribution": {"status": "failed"}, "summary": {"total": 212, "ok": 0, "failed": 212, "skipped": 0},
              "probes": [{"probe_id": f"p{i}", "family": "style", "status": "failed",
                          "error": "connection failed" if i < 4 else "not sent: endpoint not answering: x"}
                         for i in range(212)]}
    assert probe_counts(report) == "0 ok, 4 failed, 208 not sent, 0 skipped"
    report = {"attribution": {"status": "unknown"}, "summary": {"total": 212, "ok": 16, "failed": 196, "skipped": 0},
              "probes": [{"probe_id": f"p{i}", "family": "style", "status": "ok" if i < 16 else "failed",
                          "error": None if i < 16 else "deadline"} for i in range(212)]}
    assert probe_counts(report) == "16 ok, 0 failed, 196 cut by the deadline, 0 skipped"


def test_a_base_url_without_v1_gets_a_hint(servers, tmp_path) -> None:
    srv = servers(fault_fn=lambda req: None if req.path.startswith("/v1/") else Fault.status(404))
    p = run_cli(["probe", srv.origin, "-m", "m", "--no-store"], tmp_path, env={"COLUMNS": "250"}, timeout=300)
    assert p.returncode == 3
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith(f"provenance: error: {srv.origin}: no probe succeeded")
    assert f"HTTP 404 at {srv.origin}/chat/completions" in last and f"try {srv.origin}/v1" in last
    # the one 'ok' probe of the failed run is the API-surface one, and the verdict says so
    assert "1 ok (the API-surface probe: its error reply is what it observes)" in p.stdout
