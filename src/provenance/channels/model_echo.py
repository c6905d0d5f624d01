"""Does the server say it answered with the model that was asked for?

Chat replies carry a ``model`` field. A server that serves one model whatever
the request names (llama.cpp, a proxy) echoes its own name: ``--model
no-such-model`` answered as ``qwen2.5-coder-0.5b``. That is worth a warning
(the user may be probing the wrong model) and is evidence in the report.

Servers legitimately echo a more specific name than was requested, so names
are compared loosely (``names_consistent``): case, a router's ``vendor/``
prefix, a ``:tag``, a file path and ``.gguf`` extension, ``-latest`` and date
suffixes are ignored, and one name extending the other at a ``-``/``.``/``_``
boundary counts as the same model (``gpt-4o`` -> ``gpt-4o-2024-08-06``,
``claude-3-5-sonnet-latest`` -> ``claude-3-5-sonnet-20241022``, ``llama3`` ->
``llama3:latest``).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from ..transcript import Transcript

_DATE = re.compile(r"([-_.@](\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|\d{6}))+$")
_SEPS = "-._"


def _norm(name: str) -> str:
    n = name.strip().lower()
    n = n.rsplit("/", 1)[-1]                 # vendor/model, or a file path
    n = n.split(":", 1)[0]                   # ollama tags
    for ext in (".gguf", ".bin", ".safetensors"):
        if n.endswith(ext):
            n = n[: -len(ext)]
    n = re.sub(r"[-_.]latest$", "", n)
    n = _DATE.sub("", n)
    return n


def names_consistent(requested: str, echoed: str) -> bool:
    a, b = _norm(requested), _norm(echoed)
    if not a or not b:
        return True                          # nothing to compare
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return long_.startswith(short) and long_[len(short)] in _SEPS


def model_echo(transcript: Transcript, max_names: int = 5) -> dict[str, Any] | None:
    """{requested, echoed: [{name, replies}], consistent} over the successful replies; None
    when no reply named a model."""
    requested = str((transcript.target or {}).get("model") or "")
    tally = Counter(r.response_model for r in transcript.results
                    if r.status == "ok" and isinstance(r.response_model, str) and r.response_model.strip())
    if not tally:
        return None
    echoed = [{"name": n[:200], "replies": k} for n, k in tally.most_common(max_names)]
    consistent = all(names_consistent(requested, n) for n in tally)
    return {"requested": requested, "echoed": echoed, "consistent": consistent}


def mismatch_note(echo: dict[str, Any] | None) -> str | None:
    """One line for the user when the echoed names do not match the requested one."""
    if not echo or echo.get("consistent", True):
        return None
    others = [e for e in echo["echoed"] if not names_consistent(echo["requested"], e["name"])]
    total = sum(e["replies"] for e in echo["echoed"])
    names = ", ".join(f"'{e['name']}'" for e in others[:3])
    n = sum(e["replies"] for e in others)
    # replies without a model name (an error reply, a server that omits it) are not counted
    share = (f"every one of the {total} replies that named a model" if n == total
             else f"{n} of the {total} replies that named a model")
    return (f"the server answered as {names} ({share}), not the requested '{echo['requested']}': "
            "it may serve another model than the one asked for")


def first_reply_mismatch(requested: str, result: Any) -> str | None:
    """A warning line as soon as one reply names another model than the one requested (a server
    that serves one model whatever is asked, such as llama.cpp, answers ``--model no-such-model``
    with its own); None when the reply names none or a consistent one."""
    echoed = getattr(result, "response_model", None)
    if getattr(result, "status", None) != "ok" or not isinstance(echoed, str) or not echoed.strip():
        return None
    if names_consistent(requested, echoed):
        return None
    return (f"the first reply came from '{echoed[:200]}', not the requested '{requested[:200]}': the "
            "server may serve one model whatever is asked (probing goes on and reads that model; "
            "Ctrl-C stops it and keeps what is saved)")
