"""Model family names derived from model ids (the secondary, finer-grained guess)."""

from __future__ import annotations

import re

# (pattern on the lower-case model id, family name), first match wins
FAMILY_RULES: tuple[tuple[str, str], ...] = (
    (r"^gpt-4o", "GPT-4o"), (r"^gpt-4\.1", "GPT-4.1"), (r"^gpt-4-turbo|^gpt-4-(?:1106|0125)", "GPT-4 Turbo"),
    (r"^gpt-4", "GPT-4"), (r"^gpt-3\.5", "GPT-3.5"), (r"^gpt-5", "GPT-5"), (r"^gpt-oss", "gpt-oss"),
    (r"^o\d", "OpenAI o-series"), (r"davinci", "GPT-3"),
    (r"^claude-(?:3-5|3\.5)", "Claude 3.5"), (r"^claude-3\.7", "Claude 3.7"), (r"^claude-3", "Claude 3"),
    (r"^claude-(?:opus|sonnet|haiku)-4|^claude-.*-4", "Claude 4"), (r"^claude-(?:2|instant|1|bedrock)", "Claude 1/2"),
    (r"^claude", "Claude"),
    (r"^gemini-1", "Gemini 1.x"), (r"^gemini-2", "Gemini 2.x"), (r"^gemini-3", "Gemini 3.x"), (r"^gemini", "Gemini"),
    (r"^gemma-3", "Gemma 3"), (r"^gemma-2", "Gemma 2"), (r"^gemma", "Gemma 1"), (r"^palm", "PaLM"),
    (r"^llama-4", "Llama 4"), (r"^llama-3", "Llama 3"), (r"^llama-2", "Llama 2"), (r"^llama", "Llama 1"),
    (r"^(?:mixtral)", "Mixtral"), (r"^(?:codestral|devstral)", "Codestral/Devstral"),
    (r"^mistral-7b", "Mistral 7B"), (r"^(?:mistral|ministral)", "Mistral"),
    (r"^qwen3|^qwq", "Qwen3"), (r"^qwen2\.5", "Qwen2.5"), (r"^qwen2", "Qwen2"), (r"^qwen1\.5", "Qwen1.5"),
    (r"^qwen", "Qwen"), (r"^tongyi", "Qwen3"),
    (r"^deepseek-r1", "DeepSeek-R1"), (r"^deepseek-(?:chat-)?v3|^deepseek-v3", "DeepSeek-V3"),
    (r"^deepseek", "DeepSeek"),
    (r"^phi", "Phi"), (r"^(?:command|cohere|aya)", "Command/Aya"), (r"^yi", "Yi"),
    (r"^(?:chat)?glm", "GLM"), (r"^grok", "Grok"), (r"^kimi", "Kimi"), (r"^ernie", "ERNIE"),
    (r"^minimax", "MiniMax"), (r"^internlm", "InternLM"), (r"^mpt", "MPT"), (r"^falcon", "Falcon"),
    (r"^smollm", "SmolLM"),
)
_RULES = [(re.compile(p), f) for p, f in FAMILY_RULES]


def family_of(model: str) -> str:
    m = model.lower()
    for rx, fam in _RULES:
        if rx.search(m):
            return fam
    return m.split("-")[0]
