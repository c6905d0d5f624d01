"""API-surface channel: which serving stack answered, and what that says about the creator.

Content-independent: reads only what every reply carries besides the words --
response headers (allow-listed in ``transcript.KEPT_HEADERS``), response id,
``system_fingerprint``, the model echo, HTTP status and the JSON shape/wording of
error replies (the ``api.invalid.*`` probe asks for one on purpose), plus the
host the user pointed us at.

Each rule adds points (roughly log-odds) to one stack. A stack must collect more
than ``UNRECOGNISED_SCORE`` points to beat "unrecognised"; the confidence is a
softmax over the scores of the stacks that showed any signal and that baseline. The formats, as documented or
seen in public code:

* OpenAI: ``openai-processing-ms`` / ``openai-version`` / ``openai-organization``
  headers, ``chatcmpl-`` + 29 base62 chars, ``fp_`` + hex fingerprint, errors
  ``{"error": {"message", "type", "param", "code"}}``.
* Anthropic: ``anthropic-ratelimit-*`` / ``anthropic-organization-id`` headers,
  ``msg_`` ids, errors ``{"type": "error", "error": {"type", "message"}}``.
* llama.cpp ``llama-server``: ``Server: llama.cpp``, fingerprint ``b<build>-<commit>``,
  ``chatcmpl-`` + 32 alnum chars, errors ``{"error": {"code": int, "message", "type"}}``
  ("response_format type must be one of ...").
* vLLM: ``server: uvicorn``, ``chatcmpl-`` + 32 hex (uuid4 hex), errors
  ``{"object": "error", ..., "type": "BadRequestError"}`` (<= 0.8) or
  ``{"error": {..., "type": "BadRequestError"}}`` (newer).
* Ollama: ``system_fingerprint: "fp_ollama"``, ``chatcmpl-<small integer>``.
* OpenRouter: ``gen-<unix time>-<base62>`` ids, error ``metadata``.
* Hugging Face TGI: ``x-compute-type`` / ``x-validation-time`` / ``x-queue-time``
  headers, fingerprint ``<version>-sha-<commit>`` or ``<version>-native``,
  errors ``{"error": "...", "error_type": "..."}``.
* also: llama-cpp-python (uuid ids with dashes, uvicorn), Azure (``apim-request-id``,
  ``x-ms-region``), Groq (``x-groq-region``).

Creator log-likelihoods per stack (``STACK_CREATORS``; best = 0): OpenAI's own API
-> OpenAI 0, everyone else -3.5; Anthropic's -> Anthropic 0, others -4; self-hosted
open-weights stacks -> closed-model creators -1.5 (OpenAI -1.0: gpt-oss), Google -0.3
(Gemma), everyone else 0; OpenRouter and "unrecognised" -> no information. They are
mixed by the stack posterior: ``loglik_c = log sum_s P(s) exp(v_sc)``. When a router
names an upstream provider, it is reported as evidence here; its weight for each
creator is the classifier's learned P(provider | creator) (channels/provider.py),
so it is counted once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlparse

from ..transcript import ProbeResult, Transcript
from .base import ChannelResult, Evidence

UNRECOGNISED = "unrecognised"
UNRECOGNISED_SCORE = 2.0

STACKS = ("openai", "anthropic", "llama.cpp", "vllm", "ollama", "openrouter", "tgi",
          "llama-cpp-python", "azure", "groq")

STACK_LABELS = {
    "openai": "OpenAI API", "anthropic": "Anthropic API", "llama.cpp": "llama.cpp server",
    "vllm": "vLLM", "ollama": "Ollama", "openrouter": "OpenRouter", "tgi": "Hugging Face TGI",
    "llama-cpp-python": "llama-cpp-python server", "azure": "Azure (OpenAI / AI Foundry)",
    "groq": "Groq", UNRECOGNISED: "unrecognised stack",
}

_OPEN_WEIGHTS = {"OpenAI": -1.0, "Anthropic": -1.5, "Google": -0.3, "xAI": -1.0}
# creator -> log-likelihood under each stack; ``None`` key = default for unlisted creators
STACK_CREATORS: dict[str, tuple[dict[str, float], float]] = {
    "openai": ({"OpenAI": 0.0}, -3.5),
    "anthropic": ({"Anthropic": 0.0}, -4.0),
    "azure": ({"OpenAI": 0.0, "Microsoft": -0.5, "Meta": -1.5, "Mistral": -1.5, "DeepSeek": -1.5,
               "Cohere": -1.5, "xAI": -1.5}, -2.0),
    "llama.cpp": (dict(_OPEN_WEIGHTS), 0.0),
    "vllm": (dict(_OPEN_WEIGHTS), 0.0),
    "ollama": (dict(_OPEN_WEIGHTS), 0.0),
    "tgi": (dict(_OPEN_WEIGHTS), 0.0),
    "llama-cpp-python": (dict(_OPEN_WEIGHTS), 0.0),
    "groq": (dict(_OPEN_WEIGHTS), 0.0),
    "openrouter": ({}, 0.0),
    UNRECOGNISED: ({}, 0.0),
}
CREATORS = ("OpenAI", "Anthropic", "Google", "Meta", "Mistral", "Alibaba", "DeepSeek", "Microsoft",
            "Cohere", "Hugging Face", "xAI")

_RX = {
    "openai_id": re.compile(r"^chatcmpl-[A-Za-z0-9]{29}$"),
    "llamacpp_id": re.compile(r"^chatcmpl-[A-Za-z0-9]{32}$"),
    "hex32_id": re.compile(r"^(chatcmpl-|cmpl-)?[0-9a-f]{32}$"),
    "uuid_id": re.compile(r"^(chatcmpl-|cmpl-)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    "ollama_id": re.compile(r"^chatcmpl-\d{1,6}$"),
    "anthropic_id": re.compile(r"^msg_[A-Za-z0-9]{10,40}$"),
    "openrouter_id": re.compile(r"^gen-\d{9,11}-[A-Za-z0-9]{8,40}$"),
    "openai_fp": re.compile(r"^fp_[0-9a-f]{8,12}$"),
    "llamacpp_fp": re.compile(r"^b\d{1,6}-([0-9a-f]{6,40}|unknown)$"),
    "tgi_fp": re.compile(r"^\d+\.\d+\.\d+(-[A-Za-z0-9.]+)?-(sha-[0-9a-f]{6,40}|native)$"),
    "dated_model": re.compile(r"-\d{4}-\d{2}-\d{2}$"),
}

# Upstream providers a router (OpenRouter) names that serve only their own models.
FIRST_PARTY = {
    "openai": "OpenAI", "azure": "OpenAI", "anthropic": "Anthropic", "google": "Google",
    "google ai studio": "Google", "google vertex": "Google", "mistral": "Mistral", "deepseek": "DeepSeek",
    "alibaba": "Alibaba", "xai": "xAI", "cohere": "Cohere", "moonshot ai": "Moonshot", "moonshotai": "Moonshot",
    "z.ai": "Zhipu", "zhipu": "Zhipu", "minimax": "MiniMax", "baidu": "Baidu",
}

TGI_HEADERS = ("x-compute-type", "x-validation-time", "x-queue-time", "x-inference-time",
               "x-time-per-token", "x-total-time", "x-compute-characters", "x-prompt-tokens",
               "x-generated-tokens")


@dataclass
class Signal:
    stack: str
    points: float
    text: str
    probes: list[str]


def _add(signals: list[Signal], stack: str, points: float, text: str, probe: str | None) -> None:
    for s in signals:
        if s.stack == stack and s.text == text:
            if probe and probe not in s.probes and len(s.probes) < 8:
                s.probes.append(probe)
            return
    signals.append(Signal(stack, points, text, [probe] if probe else []))


def _error_dict(r: ProbeResult) -> Mapping[str, Any] | None:
    b = r.error_body
    return b if isinstance(b, Mapping) else None


def _error_signals(signals: list[Signal], r: ProbeResult) -> None:
    b = _error_dict(r)
    pid = r.probe_id
    if b is None:
        if isinstance(r.error_body, str) and "response_format type must be one of" in r.error_body:
            _add(signals, "llama.cpp", 3.0, "error wording 'response_format type must be one of'", pid)
        return
    err = b.get("error")
    if b.get("type") == "error" and isinstance(err, Mapping) and "type" in err:
        _add(signals, "anthropic", 3.0, "error shape {type: error, error: {type, message}}", pid)
        return
    if b.get("object") == "error" and "message" in b:
        pts = 4.0 if b.get("type") == "BadRequestError" else 2.5
        _add(signals, "vllm", pts, "error shape {object: error, message, type, code} (vLLM <= 0.8)", pid)
        return
    if isinstance(err, str) and "error_type" in b:
        _add(signals, "tgi", 4.0, "error shape {error: str, error_type} (TGI)", pid)
        return
    if isinstance(err, Mapping):
        msg = str(err.get("message", ""))
        etype = err.get("type")
        if "response_format type must be one of" in msg:
            _add(signals, "llama.cpp", 3.0, "error wording 'response_format type must be one of'", pid)
        if etype == "BadRequestError":
            _add(signals, "vllm", 3.0, "error type BadRequestError (vLLM)", pid)
        if "metadata" in err and isinstance(err.get("code"), int):
            _add(signals, "openrouter", 2.0, "error with metadata and integer code (OpenRouter)", pid)
        if isinstance(err.get("code"), int) and "param" not in err and etype in ("invalid_request_error", "server_error", "not_supported_error"):
            _add(signals, "llama.cpp", 1.0, "error {code: int, message, type} without param (llama.cpp shape)", pid)
        if "param" in err and etype == "invalid_request_error" and not isinstance(err.get("code"), int):
            _add(signals, "openai", 1.0, "error {message, type: invalid_request_error, param, code} (OpenAI shape)", pid)


def collect_signals(transcript: Transcript) -> list[Signal]:
    signals: list[Signal] = []
    host = ""
    try:
        host = (urlparse(str(transcript.target.get("base_url") or "")).hostname or "").lower()
    except ValueError:
        host = ""
    host_rules = (("api.openai.com", "openai"), ("api.anthropic.com", "anthropic"), ("openrouter.ai", "openrouter"),
                  ("api.groq.com", "groq"), (".openai.azure.com", "azure"), (".azure.com", "azure"))
    for suffix, stack in host_rules:
        if host == suffix.lstrip(".") or host.endswith(suffix if suffix.startswith(".") else "." + suffix) or host == suffix:
            _add(signals, stack, 5.0, f"host {host}", None)
            break
    for r in transcript.results:
        if r.status == "skipped":
            continue
        pid = r.probe_id
        h = {k.lower(): str(v) for k, v in (r.headers or {}).items()}
        server = h.get("server", "").lower()
        if "llama.cpp" in server:
            _add(signals, "llama.cpp", 5.0, "header server: llama.cpp", pid)
        if server.startswith("uvicorn"):
            for st in ("vllm", "llama-cpp-python"):
                _add(signals, st, 1.0, "header server: uvicorn (Python ASGI server)", pid)
        for k in ("openai-processing-ms", "openai-version", "openai-organization"):
            if k in h:
                _add(signals, "openai", 4.0, f"header {k}", pid)
        if any(k.startswith("anthropic-ratelimit-") for k in h) or "anthropic-organization-id" in h:
            _add(signals, "anthropic", 4.0, "anthropic-* headers", pid)
        if any(k in h for k in TGI_HEADERS):
            _add(signals, "tgi", 4.0, "TGI timing headers (x-compute-type / x-validation-time / ...)", pid)
        if "x-groq-region" in h:
            _add(signals, "groq", 5.0, "header x-groq-region", pid)
        if "apim-request-id" in h or "x-ms-region" in h or "azureml-model-session" in h:
            _add(signals, "azure", 4.0, "Azure headers (apim-request-id / x-ms-region)", pid)
        if "x-openrouter-provider" in h:
            _add(signals, "openrouter", 4.0, "header x-openrouter-provider", pid)
        rid = (r.response_id or "").strip()
        if rid:
            if _RX["openai_id"].match(rid):
                _add(signals, "openai", 1.5, "id chatcmpl- + 29 base62 chars (OpenAI format)", pid)
            elif _RX["llamacpp_id"].match(rid) and not _RX["hex32_id"].match(rid):
                _add(signals, "llama.cpp", 1.5, "id chatcmpl- + 32 alphanumerics (llama.cpp format)", pid)
            if _RX["hex32_id"].match(rid):
                _add(signals, "vllm", 1.5, "id of 32 hex digits (uuid4 hex, vLLM format)", pid)
            if _RX["uuid_id"].match(rid):
                _add(signals, "llama-cpp-python", 2.0, "id chatcmpl-<uuid with dashes> (llama-cpp-python format)", pid)
            if _RX["ollama_id"].match(rid):
                _add(signals, "ollama", 3.0, "id chatcmpl-<small integer> (Ollama format)", pid)
            if _RX["anthropic_id"].match(rid):
                _add(signals, "anthropic", 3.0, "id msg_... (Anthropic format)", pid)
            if _RX["openrouter_id"].match(rid):
                _add(signals, "openrouter", 4.0, "id gen-<time>-... (OpenRouter format)", pid)
        fp = (r.system_fingerprint or "").strip()
        if fp:
            if fp == "fp_ollama":
                _add(signals, "ollama", 6.0, "system_fingerprint fp_ollama", pid)
            elif _RX["openai_fp"].match(fp):
                _add(signals, "openai", 1.5, "system_fingerprint fp_<hex> (OpenAI format; also Azure/Groq)", pid)
                _add(signals, "azure", 0.5, "system_fingerprint fp_<hex>", pid)
                _add(signals, "groq", 0.5, "system_fingerprint fp_<hex>", pid)
            elif _RX["llamacpp_fp"].match(fp):
                _add(signals, "llama.cpp", 4.0, "system_fingerprint b<build>-<commit> (llama.cpp)", pid)
            elif _RX["tgi_fp"].match(fp):
                _add(signals, "tgi", 4.0, "system_fingerprint <version>-sha-<commit> (TGI)", pid)
        if r.response_model and _RX["dated_model"].search(r.response_model):
            req_model = str((r.request or {}).get("model", "")) if isinstance(r.request, Mapping) else ""
            if req_model and req_model != r.response_model:
                _add(signals, "openai", 0.5, "model echo expands to a dated snapshot", pid)
        prov = getattr(r, "provider", None)
        if isinstance(prov, str) and prov.strip():
            _add(signals, "openrouter", 3.0, f"reply names an upstream provider ({prov.strip()[:40]})", pid)
        if r.error_body is not None:
            _error_signals(signals, r)
    return signals


def upstream_providers(transcript: Transcript) -> list[str]:
    seen: list[str] = []
    for r in transcript.results:
        prov = getattr(r, "provider", None)
        if isinstance(prov, str) and prov.strip() and prov.strip() not in seen and len(seen) < 8:
            seen.append(prov.strip()[:60])
    return seen


def stack_posterior(signals: list[Signal]) -> dict[str, float]:
    score: dict[str, float] = {}
    for sig in signals:        # stacks without any signal take no part (no evidence, no mass)
        score[sig.stack] = score.get(sig.stack, 0.0) + sig.points
    score[UNRECOGNISED] = UNRECOGNISED_SCORE
    m = max(score.values())
    z = sum(math.exp(v - m) for v in score.values())
    return {s: math.exp(v - m) / z for s, v in score.items()}


def creator_logliks(post: Mapping[str, float]) -> tuple[dict[str, float], float]:
    def mix(creator: str | None) -> float:
        tot = 0.0
        for s, p in post.items():
            table, default = STACK_CREATORS[s]
            v = table.get(creator, default) if creator is not None else default
            tot += p * math.exp(v)
        return math.log(max(tot, 1e-300))
    ll = {c: mix(c) for c in CREATORS}
    default = mix(None)
    top = max(max(ll.values()), default)
    return {c: round(v - top, 4) for c, v in ll.items()}, round(default - top, 4)


def api_channel(transcript: Transcript) -> ChannelResult:
    if not any(r.status != "skipped" for r in transcript.results):
        return ChannelResult(name="api", available=False, reason="no replies recorded")
    signals = collect_signals(transcript)
    post = stack_posterior(signals)
    best = max(post, key=lambda s: post[s])
    loglik, default = creator_logliks(post)
    providers = upstream_providers(transcript)
    # The creator evidence of an upstream provider is scored by the classifier's learned
    # P(provider | creator) (channels/provider.py), not here, so it is never counted twice:
    # the corpus shows "Google" serving Claude more than Gemini, Bedrock serving several makers.
    named = {FIRST_PARTY[p.lower()] for p in providers if p.lower() in FIRST_PARTY}
    sig_list = [{"stack": s.stack, "points": s.points, "signal": s.text} for s in
                sorted(signals, key=lambda s: -s.points)]
    summary = {
        "stack": best,
        "label": STACK_LABELS.get(best, best),
        "confidence": round(post[best], 4),
        "scores": {s: round(p, 4) for s, p in sorted(post.items(), key=lambda kv: -kv[1]) if p >= 0.001},
        "signals": sig_list[:20],
        "upstream_providers": providers,
    }
    ev: list[Evidence] = []
    for s in sorted(signals, key=lambda s: -s.points):
        if s.stack == best:
            ev.append(Evidence(text=f"{STACK_LABELS.get(s.stack, s.stack)}: {s.text}", probes=list(s.probes),
                               channel="api", strength=s.points))
    if len(named) == 1:
        ev.append(Evidence(text=f"the router reports the request was served by {', '.join(providers)} "
                                f"(usually first-party: {next(iter(named))})", probes=[], channel="api",
                           strength=None))
    if best == UNRECOGNISED:
        ev.append(Evidence(text="no known serving-stack signature in headers, ids or errors", probes=[],
                           channel="api", strength=None))
    return ChannelResult(name="api", available=True, loglik=loglik, default=default,
                         evidence=ev[:6], summary=summary)


def score(transcript: Transcript, *, cross_check: bool = False) -> ChannelResult:
    """The API-surface channel (``registry.py``): the serving stack and what it says of the maker."""
    return api_channel(transcript)
