"""The wire protocols provenance speaks: one line each, in ``PROTOCOLS``.

A line names the protocol (``--protocol NAME``, an entrants file's ``protocol``, the report's
``target.protocol``), where its adapter lives (``module:Class`` in this package, imported only
when a run uses it: ``base.get_endpoint_class``), the environment variable its key is read
from when ``--api-key-env`` is not given, what its base URL is (for help texts) and the URL
endings that mean an endpoint path was given instead of the base URL. Everything else about a
protocol (its requests, how it streams, its usage fields, its error shape, its models and
liveness URLs) is declared by its adapter class (``base.Endpoint``).

The protocol list, the commands' help texts, the entrants file's check and the report
schema's ``target.protocol`` enum are read from here. This module imports nothing, so the
CLI can read it while building ``--help``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    name: str                       # --protocol NAME
    adapter: str                    # "module:Class" in provenance.endpoints
    key_env: str                    # the key's environment variable when --api-key-env is not given
    base_url: str                   # what its base URL is, for help texts
    not_base: tuple[str, ...] = ()  # regexes: the end of an endpoint's (not a base) URL path, refused with a hint


PROTOCOLS: tuple[Protocol, ...] = (
    Protocol("openai", "openai:OpenAIEndpoint", "OPENAI_API_KEY",
             "OpenAI-compatible Chat Completions, the base URL ending in /v1",
             (r"/chat/completions$", r"/completions$")),
    Protocol("anthropic", "anthropic:AnthropicEndpoint", "ANTHROPIC_API_KEY",
             "Anthropic's Messages API, the API root https://api.anthropic.com", (r"/messages$",)),
    Protocol("gemini", "gemini:GeminiEndpoint", "GEMINI_API_KEY",
             "Google's Gemini API, https://generativelanguage.googleapis.com or a URL in front of it",
             (r"(/v1beta)?/models/[^/]+:\w+$",)),
)


def names() -> tuple[str, ...]:
    return tuple(p.name for p in PROTOCOLS)


def get(name: str) -> Protocol | None:
    return next((p for p in PROTOCOLS if p.name == name), None)


def listing(last: str = "or") -> str:
    """'openai, anthropic or gemini'."""
    n = names()
    return n[0] if len(n) == 1 else f"{', '.join(n[:-1])} {last} {n[-1]}"


def protocol_help() -> str:
    """The ``--protocol`` option's help text."""
    return "Wire protocol: " + "; ".join(f"{p.name} ({p.base_url})" for p in PROTOCOLS) + "."


def key_env_help() -> str:
    """The ``--api-key-env`` option's help text."""
    return ("Environment variable holding the API key (default, when set: "
            + ", ".join(f"{p.key_env} for {p.name}" for p in PROTOCOLS) + ").")
