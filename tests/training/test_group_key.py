"""Alias groups: leave-one-model-out removes a model together with its aliases and snapshots."""

from __future__ import annotations

import pytest

from provenance.training.corpus import group_key

SAME = [
    ("gpt-4-0314", "gpt-4-0613", "gpt-4"),
    # GPT-4 Turbo's previews go with GPT-4 Turbo, not with GPT-4
    ("gpt-4-1106-preview", "gpt-4-0125-preview", "gpt-4-turbo-2024-04-09", "gpt-4-turbo-preview"),
    ("gpt-3.5-turbo", "gpt-3.5-turbo-0613", "gpt-3.5-turbo-1106"),
    ("claude-2", "claude-bedrock"),
    ("claude-3-opus-20240229", "claude-3-opus"),
    ("internlm2-chat-20b-ppo", "internlm2-20b-chat"),
    ("deepseek-chat-v3.1", "deepseek-v3.1-terminus"),
    ("kimi-k2", "kimi-k2-0905"),
    ("gemma-3n-e2b-it:free", "gemma-3n-e2b-it"),
    ("gemini-3.1-pro", "gemini-3.1-pro-preview"),
]

DIFFERENT = [
    ("gpt-4-0613", "gpt-4-1106-preview"),
    ("gpt-4-0613", "gpt-4-turbo-2024-04-09"),
    ("gpt-4", "gpt-4o-2024-05-13"),
    ("claude-2", "claude-2.1"),
    ("mistral-7b-instruct-v0.1", "mistral-7b-instruct-v0.2"),
    ("internlm2-20b-chat", "internlm2-20b-5-chat"),
    ("deepseek-chat-v3", "deepseek-chat-v3.1"),
    ("qwen3-coder", "qwen3-coder-flash"),
]


@pytest.mark.parametrize("names", SAME)
def test_aliases_share_a_group(names):
    assert len({group_key(n) for n in names}) == 1, {n: group_key(n) for n in names}


@pytest.mark.parametrize("a,b", DIFFERENT)
def test_distinct_models_do_not(a, b):
    assert group_key(a) != group_key(b)
