"""Lineage: the open weights an `unknown` model appears to build on.

A third party's fine-tune of Llama or Qwen is neither its base maker's own model nor proof of an
unknown maker. When the classifier abstains, it still says what the evidence points at, as
lineage, never as the creator: an exact tokenizer match with an open-weights family (which every
fine-tune of those weights shares), or else a behavioural best guess that names a maker of open
weights with some weight behind it.
"""

from __future__ import annotations

from typing import Any

# tokenizer family (channels/tokenizer.py) -> (maker, family of open weights)
TOKENIZER_LINEAGE = {
    "llama3": ("Meta", "Llama 3"),
    "llama2": ("Meta", "Llama 2"),
    "qwen2": ("Alibaba", "Qwen"),
    "qwen35": ("Alibaba", "Qwen 3.5"),
    "gemma": ("Google", "Gemma"),
    "mistral_spm": ("Mistral", "Mistral"),
    "tekken": ("Mistral", "Mistral (Tekken)"),
    "deepseek_v3": ("DeepSeek", "DeepSeek V3/R1"),
    "command_r": ("Cohere", "Command R"),
    "smollm2": ("Hugging Face", "SmolLM2"),
}
# makers that publish weights others fine-tune (a behavioural best guess names lineage only for
# these). Not OpenAI: fine-tunes trained on GPT-4's outputs write like it (distillation, not lineage),
# and its one open family is rarely the base of one (on the corpus's fine-tunes, every behavioural
# "OpenAI lineage" was wrong).
OPEN_WEIGHT_MAKERS = frozenset({"Meta", "Alibaba", "Mistral", "Google", "DeepSeek", "Microsoft", "01.AI", "TII",
                                "Shanghai AI Lab", "Zhipu", "Cohere", "Hugging Face", "Baichuan", "MosaicML",
                                "Stability AI", "RWKV"})
TOKENIZER_MIN = 0.95      # tokenizer posterior for a tokenizer lineage
BEHAVIOUR_MIN = 0.5       # calibrated probability of the best guess for a behavioural lineage


def lineage(tokenizer: dict[str, Any] | None, top: str | None, p_top: float,
            family: str | None = None) -> dict[str, Any] | None:
    """``tokenizer``: the tokenizer channel's summary (family, confidence) or None; ``top``,
    ``p_top``: the behavioural best guess and its calibrated probability; ``family``: the best
    guess's family among its maker's (for the behavioural basis)."""
    if tokenizer:
        fam = tokenizer.get("family")
        conf = float(tokenizer.get("confidence") or 0.0)
        if conf >= TOKENIZER_MIN:
            # a confident tokenizer decides: open weights' lineage, or none (a closed maker's tokenizer,
            # or one in no table), never a behavioural guess it may rule out
            if fam not in TOKENIZER_LINEAGE:
                return None
            maker, name = TOKENIZER_LINEAGE[fam]
            return {"creator": maker, "family": name, "basis": "tokenizer", "confidence": round(conf, 4)}
    if top and top in OPEN_WEIGHT_MAKERS and p_top >= BEHAVIOUR_MIN:
        return {"creator": top, "family": family, "basis": "behaviour", "confidence": round(float(p_top), 4)}
    return None


def describe(lin: dict[str, Any] | None) -> str | None:
    """'lineage: Llama 3 (Meta), by its tokenizer' for the verdict line."""
    if not lin:
        return None
    what = f"{lin['family']} ({lin['creator']})" if lin.get("family") else str(lin["creator"])
    by = "its tokenizer" if lin.get("basis") == "tokenizer" else "its answers"
    return f"lineage: {what}, by {by}"
