"""The reference corpus's sources and the probe family each one trains (numpy-free; shared by
training and inference)."""

from __future__ import annotations

SOURCE_FAMILY = {
    "model_name_identity": "identity",
    "knowledge_cutoff": "cutoff",
    "xstest": "refusal",
    "jailbreakbench": "refusal",
    "alpaca_eval": "style",
    "arena_hard": "style",
    "mt_bench": "style",
    "benchpress": "style",
    "speechmap": "style",
}


def family_of_source(source: str) -> str:
    return SOURCE_FAMILY.get(source, "style")


def profile_of_source(source: str) -> str:
    """The evidence profile of a run whose answers all come from ``source`` ("identity",
    "cutoff", "style:alpaca_eval", "refusal:xstest", ...), as ``eval`` names it."""
    fam = family_of_source(source)
    return fam if fam in ("identity", "cutoff") else f"{fam}:{source}"
