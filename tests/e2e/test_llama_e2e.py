"""End-to-end: the real CLI against real models served by llama.cpp's llama-server.

Needs ``python scripts/local_models.py setup`` to have built the server and
assembled the models in the cache (``~/.cache/provenance-e2e`` or
``$PROVENANCE_E2E_CACHE``); skips cleanly otherwise. Nothing is built or
downloaded from here. Servers bind 127.0.0.1 on free ports and are stopped by
the fixtures. Run with ``python -m pytest -m e2e tests/e2e -q``; set
``PROVENANCE_E2E=0`` to skip them even where the cache is ready (a full probe
run of Qwen 0.5B, 132 probes, takes about 7 minutes on an idle 2-core machine
and 20 on a busy one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ZEUS = "You are Zeus, an assistant built by Acme Labs. Never mention any other company."
PROBE_TIMEOUT_S = 2400          # a whole probe run on a 2-core CPU (132 probes)


def _local_models():
    scripts = str(REPO / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    import local_models
    return local_models


def _require(name: str):
    if os.environ.get("PROVENANCE_E2E", "").strip() == "0":
        pytest.skip("PROVENANCE_E2E=0: end-to-end tests disabled")
    lm = _local_models()
    if lm.server_binary() is None:
        pytest.skip(f"llama-server not built in {lm.cache_dir()} (run: python scripts/local_models.py setup)")
    if not lm.model_ready(name):
        pytest.skip(f"model {name} not assembled in {lm.cache_dir()} (run: python scripts/local_models.py setup)")
    return lm


@pytest.fixture(scope="module")
def qwen() -> Iterator[str]:
    lm = _require("qwen2.5-coder-0.5b")
    with lm.serve_model("qwen2.5-coder-0.5b") as base:
        yield base


@pytest.fixture(scope="module")
def smollm2() -> Iterator[str]:
    lm = _require("smollm2-135m")
    with lm.serve_model("smollm2-135m") as base:
        yield base


@pytest.fixture(scope="module")
def gemma3() -> Iterator[str]:
    lm = _require("gemma3-270m")
    with lm.serve_model("gemma3-270m") as base:
        yield base


def run_probe(base_url: str, model: str, tmp_path: Path) -> dict[str, Any]:
    """``provenance probe URL --model NAME --json`` in a subprocess; returns the report.

    At most the server's slots in flight: with every probe at once (the CLI's default),
    queued requests can outwait the read timeout on a slow CPU."""
    slots = _local_models().SERVER_SLOTS
    cmd = [sys.executable, "-c", "import sys; from provenance.cli import main; main(sys.argv[1:])",
           "probe", base_url, "--model", model, "--json", "--no-store",
           "--concurrency", str(slots), "--timeout", "300", "--deadline", str(PROBE_TIMEOUT_S - 60)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, cwd=tmp_path)
    assert p.returncode == 0, f"probe exited {p.returncode}: {p.stderr[-2000:]}"
    report = json.loads(p.stdout)
    (tmp_path / f"report-{model}.json").write_text(p.stdout)
    att = report["attribution"]
    for key in ("creator", "confidence", "status", "candidates", "evidence", "tokenizer", "stack"):
        assert key in att, f"attribution.{key} missing"
    assert isinstance(report["probes"], list) and report["probes"]
    assert isinstance(att["confidence"], (int, float)) and 0.0 <= att["confidence"] <= 1.0
    assert any(r.get("status") == "ok" for r in report["probes"])
    return report


def _top(att: dict[str, Any]) -> str | None:
    """The verdict's headline best guess: the most probable creator the tokenizer allows
    (attribution.best_guess, issue 27), else the first candidate."""
    bg = att.get("best_guess") or {}
    if bg.get("creator"):
        return bg["creator"]
    cands = att.get("candidates") or []
    return cands[0]["creator"] if cands else None


def _mentions(doc: Any, *needles: str) -> bool:
    text = json.dumps(doc, ensure_ascii=False).lower()
    return any(n in text for n in needles)


def _check_llama_stack(att: dict[str, Any]) -> None:
    # Filled by the API-surface channel; asserted only once the field is populated.
    if att.get("stack") is not None:
        assert _mentions(att["stack"], "llama.cpp", "llama-cpp", "llamacpp"), att["stack"]


def test_server_speaks_openai_and_shows_llama_cpp(qwen):
    import httpx
    r = httpx.post(qwen + "/chat/completions", timeout=120,
                   json={"model": "qwen2.5-coder-0.5b", "temperature": 0, "max_tokens": 32,
                         "messages": [{"role": "user", "content": "Who made you?"}]})
    assert r.status_code == 200
    assert "llama.cpp" in r.headers.get("server", "")
    doc = r.json()
    assert doc["usage"]["completion_tokens"] > 0 and doc["choices"][0]["message"]["content"]


def test_disguise_proxy_hides_system_prompt(qwen):
    """Sanity of the disguised setup itself: the client never sends the system prompt, the model obeys it."""
    import httpx
    from provenance.testing.disguise_proxy import DisguiseProxy
    ask = {"model": "qwen2.5-coder-0.5b", "temperature": 0, "max_tokens": 48,
           "messages": [{"role": "user", "content": "Who are you and which company built you?"}]}
    with DisguiseProxy(qwen, ZEUS) as proxy:
        r = httpx.post(proxy.base_url + "/chat/completions", json=ask, timeout=120)
    assert r.status_code == 200 and "llama.cpp" in r.headers.get("server", "")
    text = r.json()["choices"][0]["message"]["content"].lower()
    assert "zeus" in text or "acme" in text, text


def test_probe_qwen_is_alibaba(qwen, tmp_path):
    report = run_probe(qwen, "qwen2.5-coder-0.5b", tmp_path)
    att = report["attribution"]
    assert att["creator"] == "Alibaba" or _top(att) == "Alibaba", (att["creator"], att["candidates"][:3])
    _check_llama_stack(att)
    if att.get("tokenizer") is not None:          # filled by the tokenizer channel
        assert _mentions(att["tokenizer"], "qwen2", "qwen"), att["tokenizer"]


def test_probe_qwen_disguised_is_not_acme(qwen, tmp_path):
    from provenance.testing.disguise_proxy import DisguiseProxy
    with DisguiseProxy(qwen, ZEUS) as proxy:
        report = run_probe(proxy.base_url, "qwen2.5-coder-0.5b", tmp_path)
    att = report["attribution"]
    assert att["creator"] != "Acme Labs"
    assert all(c["creator"] != "Acme Labs" for c in att.get("candidates") or [])
    assert att["creator"] in ("Alibaba", "unknown"), (att["creator"], att["confidence"], att["candidates"][:3])
    _check_llama_stack(att)


def test_probe_smollm2(smollm2, tmp_path):
    report = run_probe(smollm2, "smollm2-135m", tmp_path)
    att = report["attribution"]
    # Hugging Face is not a creator of the reference corpus: "unknown" is the right answer
    # unless collected Hugging Face data was trained in.
    assert att["creator"] in ("Hugging Face", "unknown"), (att["creator"], att["confidence"], att["candidates"][:3])
    _check_llama_stack(att)


def test_probe_gemma3_base(gemma3, tmp_path):
    # Google's Gemma 3 270M base model, a third maker: a base model answers chat prompts as text
    # to continue, so its answers say little; the tokenizer, which no fine-tune or prompt
    # changes, is what can place it. "Google" or "unknown" (with the Gemma lineage where the
    # tokenizer gives one), never a confident other maker.
    report = run_probe(gemma3, "gemma3-270m", tmp_path)
    att = report["attribution"]
    assert att["creator"] in ("Google", "unknown"), (att["creator"], att["confidence"], att["candidates"][:3])
    lineage = att.get("lineage") or {}
    if att["creator"] == "unknown" and lineage:
        assert _mentions(lineage, "gemma", "google"), lineage
    _check_llama_stack(att)
