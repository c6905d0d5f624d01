"""Third parties' fine-tunes: how the trained classifier treats models whose creator it cannot know.

``../shared/reference/derivatives.jsonl.gz`` holds real answers of fine-tunes of open weights
(Llama, Mistral, Gemma, Qwen, Yi, Phi, Falcon, InternLM, DeepSeek R1) by third parties. Their
creator is the fine-tuner, which no training label names; the right verdict is ``unknown``,
with the base maker as lineage. Each model is scored through the classifier's own inference
path (a transcript of its answers to the probe set's prompts), as a replayed endpoint would be.

Training/evaluation only (reads the corpus format); inference never imports it.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..probes import ProbeSet
from ..transcript import Transcript

FILE = "derivatives.jsonl.gz"
CONFIDENT = 0.9


@dataclass
class Derivative:
    model: str
    base_creator: str
    base_family: str
    fine_tuner: str | None
    answers: dict[str, str] = field(default_factory=dict)     # corpus key -> response


def load(path: Path | str) -> dict[str, Derivative]:
    p = Path(path)
    if p.is_dir():
        p = p / FILE
    out: dict[str, Derivative] = {}
    try:
        with gzip.open(p, "rt", encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    r = json.loads(line)
                    if r.get("variant"):
                        continue
                    m = str(r["model"]).lower()
                    d = out.setdefault(m, Derivative(m, str(r["base_creator"]), str(r.get("base_family") or ""),
                                                     r.get("fine_tuner")))
                    d.answers.setdefault(f"{r['source']}:{r['prompt_id']}", str(r.get("response") or ""))
                except (ValueError, KeyError, TypeError) as e:
                    raise ConfigError(f"{p}:{n}: not a derivative record ({type(e).__name__})") from None
    except (OSError, EOFError) as e:
        raise ConfigError(f"{p}: unreadable ({type(e).__name__})") from None
    return out


def transcript(d: Derivative, ps: ProbeSet) -> Transcript:
    """The transcript a replayed endpoint serving ``d`` would give: its answers to the probe
    set's behavioural prompts (the others unanswered)."""
    texts, fams = {}, {}
    for p in ps.probes:
        if p.behavioural and p.corpus in d.answers:
            texts[p.id] = d.answers[p.corpus]
            fams[p.id] = p.family
    return Transcript.from_texts(texts, fams, ps.info(), {"model": d.model, "protocol": "replay"})


def evaluate(clf: Any, ps: ProbeSet, path: Path | str) -> dict[str, Any]:
    """How the classifier treats each derivative: the share reported ``unknown``, named as its
    base maker (and confidently so), named as some other maker, and given its base maker as
    lineage; per base maker too."""
    ders = load(path)
    rows = []
    for d in sorted(ders.values(), key=lambda d: d.model):
        t = transcript(d, ps)
        if not t.results:
            continue
        a = clf.classify(t)
        lin = (a.lineage or {}).get("creator") if getattr(a, "lineage", None) else None
        rows.append({"model": d.model, "base": d.base_creator, "status": a.status, "creator": a.creator,
                     "confidence": a.confidence, "answers": len(t.results), "lineage": lin,
                     "top": a.candidates[0].creator if a.candidates else None})
    if not rows:
        return {"models": 0}

    def share(pred) -> float:
        return round(sum(1 for r in rows if pred(r)) / len(rows), 4)
    per_base: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        per_base[r["base"]].append(r)
    return {
        "models": len(rows),
        "unknown": share(lambda r: r["status"] == "unknown"),
        "named_base": share(lambda r: r["status"] != "unknown" and r["creator"] == r["base"]),
        "named_base_confident": share(lambda r: r["status"] != "unknown" and r["creator"] == r["base"]
                                      and r["confidence"] >= CONFIDENT),
        "named_other": share(lambda r: r["status"] != "unknown" and r["creator"] != r["base"]),
        "named_confident": share(lambda r: r["status"] != "unknown" and r["confidence"] >= CONFIDENT),
        "lineage_right": share(lambda r: r["lineage"] == r["base"]),
        "per_base": {b: {"models": len(rs),
                         "unknown": round(sum(r["status"] == "unknown" for r in rs) / len(rs), 4),
                         "named_base": round(sum(r["status"] != "unknown" and r["creator"] == b for r in rs) / len(rs), 4)}
                     for b, rs in sorted(per_base.items())},
        "rows": rows,
    }


def evaluate_training(tr: Any, arrays: dict[str, Any], meta: dict[str, Any], corpus: Path | str,
                      verdict_coef: Any = None) -> dict[str, Any] | None:
    """``evaluate`` with the model this training run would ship (``export.build``'s arrays and
    manifest, written to a scratch directory and loaded as ``provenance`` loads it;
    ``verdict_coef``: its verdict map, fitted on these same fine-tunes, so the confidences here
    are in-sample); None when the corpus has no derivatives."""
    import tempfile
    from ..classifier.model import TrainedClassifier
    from .export import write
    path = Path(corpus) / FILE
    if not path.is_file():
        return None
    with tempfile.TemporaryDirectory(prefix="provenance-derivatives-") as tmp:
        clf = TrainedClassifier.load(write(tr, arrays, meta, tmp, verdict_coef=verdict_coef), tr.ps)
        return evaluate(clf, tr.ps, path)
