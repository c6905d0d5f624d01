"""The trained creator classifier at inference time (numpy only).

``TrainedClassifier.load(dir, probeset)`` reads a checked artifact
(``artifact.py``) into the arrays each channel scores with; ``classify(transcript)``
is the flow, one module per step:

1. ``score.py``: every channel scores the transcript (the answer channels'
   naive Bayes, the claims, the lexical and aligned channels; the tokenizer, API
   surface and provider);
2. ``decide.py``: the calibrated combination, the unknown decision and the vetoes
   (a ruling tokenizer, degenerate answers);
3. ``explain.py``: evidence lines, reliability notes, the model family or lineage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..channels import aligned as aligned_mod
from ..channels.lexical import LexicalModel
from ..transcript import Transcript
from . import explain, score
from .artifact import load_artifact
from .base import UNKNOWN, Attribution
from .combine import PER_CHANNEL, PROFILE_FEATURES, REJECT_FEATURES, SCORE_CHANNELS, VERDICT_FEATURES
from .decide import decide
from .lineage import OPEN_WEIGHT_MAKERS


def _by_name(stored: np.ndarray, stored_names: list[str], names: tuple[str, ...], block: int = 1) -> np.ndarray:
    """Weights stored in blocks of ``block`` under ``stored_names``, laid out in the order of
    ``names``; a name the artifact lacks gets zeros (an older artifact decides as it did), a
    stored name this tool no longer has is dropped."""
    out = np.zeros(block * len(names))
    for j, name in enumerate(stored_names):
        if name in names:
            k = block * names.index(name)
            out[k:k + block] = stored[block * j:block * (j + 1)]
    return out


class TrainedClassifier:
    name = "provenance-nb"

    def __init__(self, manifest: dict[str, Any], arrays: dict[str, np.ndarray], path: Path):
        self.manifest = manifest
        self.path = path
        self.version = str(manifest.get("schema_version"))
        self.labels: list[str] = list(manifest["labels"])
        self.claim_index = {c: i for i, c in enumerate(manifest["claim_labels"])}
        self.claim_loglik = arrays["claim_loglik"].astype(np.float64)
        w = arrays["calibrator"].astype(np.float64)
        # the calibrator's layout follows the artifact's score channels (older artifacts have
        # fewer); the provider channel's weight, where present, follows the design weights
        stored = list(manifest.get("score_channels", SCORE_CHANNELS))
        self.w = _by_name(w, stored, SCORE_CHANNELS, PER_CHANNEL)
        n_stored = PER_CHANNEL * len(stored)
        self.w_provider = float(w[n_stored]) if w.shape[0] > n_stored else 0.0
        self.provider_vocab: list[str] = list(manifest.get("provider_vocab", []))
        self.provider_logp = (arrays["provider_logp"].astype(np.float64) if "provider_logp" in arrays
                              else np.zeros((len(manifest["labels"]), 0)))
        # the rejector's layout follows the artifact's feature list (older artifacts have
        # fewer features; a feature they lack gets weight 0, so they decide as they did)
        v = arrays["rejector"].astype(np.float64)
        self.v = _by_name(v, list(manifest.get("reject_features", REJECT_FEATURES[:len(v)])), REJECT_FEATURES)
        # the evidence-dependent temperature; absent from older artifacts (then none)
        self.theta_profile = (_by_name(arrays["temperature"].astype(np.float64),
                                       list(manifest.get("profile_features", PROFILE_FEATURES)), PROFILE_FEATURES)
                              if "temperature" in arrays else None)
        # the top-label recalibration over [1, logit(top), profile features]; absent from older
        # artifacts, and unused where the artifact's profile features are laid out otherwise
        same_profile = list(manifest.get("profile_features", ())) == list(PROFILE_FEATURES)
        self.top_coef = (arrays["top_calibrator"].astype(np.float64)
                         if "top_calibrator" in arrays and same_profile else None)
        # the verdict map (P(named creator right) with third parties' fine-tunes in the mix); absent
        # from older artifacts (then the named confidence as it is)
        vc = arrays.get("verdict_calibrator")
        self.verdict_coef = (vc.astype(np.float64) if vc is not None and vc.shape == (len(VERDICT_FEATURES),)
                             else None)
        # the makers whose open weights the map's fine-tune term was fitted for (older artifacts: today's)
        self.open_weight_makers = frozenset(manifest.get("open_weight_makers", OPEN_WEIGHT_MAKERS))
        self.channels: list[str] = list(manifest["channels"])
        self.nn: dict[str, list[list[str]]] = dict(manifest.get("nn_channels", {}))
        self.vocab = {ch: arrays[f"{ch}.vocab"].astype(np.int64) for ch in self.channels}
        self.weight = {ch: arrays[f"{ch}.weight"].astype(np.float64) for ch in self.channels}
        self.fweight = {ch: arrays[f"{ch}.family_weight"].astype(np.float64) for ch in self.channels}
        self.theta: dict[str, np.ndarray] = {}
        self.ftheta: dict[str, np.ndarray] = {}
        self.mtheta: dict[str, np.ndarray] = {}
        self.logbg: dict[str, np.ndarray] = {}
        for ch in self.channels:
            if ch in self.nn:
                self.mtheta[ch] = arrays[f"{ch}.model_logtheta"].astype(np.float32)
                self.logbg[ch] = arrays[f"{ch}.logbg"].astype(np.float64)
            else:
                self.theta[ch] = arrays[f"{ch}.logtheta"].astype(np.float32)
                self.ftheta[ch] = arrays[f"{ch}.family_logtheta"].astype(np.float32)
                self.logbg[ch] = arrays[f"{ch}.logbg"].astype(np.float64)
        # lexical channel (logistic regression per style source); absent from older artifacts
        self.lexical: dict[str, LexicalModel] = {}
        for ch, classes in dict(manifest.get("lexical_channels", {})).items():
            self.lexical[ch] = LexicalModel(
                list(classes), arrays[f"{ch}.lex_vocab"].astype(np.int64),
                arrays[f"{ch}.lex_idf"].astype(np.float64), arrays[f"{ch}.lex_coef"],
                arrays[f"{ch}.lex_intercept"].astype(np.float64))
        # aligned channel (reference answers per probe prompt); absent from older artifacts
        self.aligned = (aligned_mod.from_arrays(manifest["aligned"], arrays)
                        if "aligned" in manifest else None)
        self.families: list[str] = list(manifest.get("families", []))
        self.family_creator: dict[str, str] = dict(manifest.get("family_creator", {}))
        # calibrated family model; absent from older artifacts (then the uncalibrated guess)
        self.family_w = (arrays["family_calibrator"].astype(np.float64) if "family_calibrator" in arrays else None)
        self.family_v = (arrays["family_platt"].astype(np.float64) if "family_platt" in arrays else None)
        self.family_log_size = (np.log(np.maximum(arrays["family_size"].astype(np.float64), 1.0))
                                if "family_size" in arrays else None)
        amf = dict(manifest.get("aligned_model_family", {}))
        self.aligned_family = [amf.get(m, "") for m in self.aligned.models] if self.aligned is not None else []
        self.probes: dict[str, dict[str, Any]] = dict(manifest.get("probes", {}))
        self.cutoff_probes: dict[str, dict[str, Any]] = dict(manifest.get("cutoff_probes", {}))
        self.thresholds = dict(manifest.get("thresholds", {"unknown": 0.5, "match": 0.6}))
        self.creator_models: dict[str, int] = dict(manifest.get("creator_models", {}))

    @classmethod
    def load(cls, path: Path | str, probeset: Any = None) -> "TrainedClassifier":
        m, arrays = load_artifact(path, probeset)
        return cls(m, arrays, Path(path))

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "hash": self.manifest["files"].get("arrays.npz"),
                "probeset_hash": self.manifest["probeset"].get("hash"), "calibrated": True,
                "path": str(self.path)}

    # -- the flow: score, combine and decide, explain ------------------------------------------------
    def classify(self, transcript: Transcript) -> Attribution:
        scores = score.behavioural(self, transcript)
        independent = score.content_independent(self, transcript)
        if scores.n_behavioural == 0 and not independent.extra.any():
            return Attribution(creator=UNKNOWN, confidence=0.0, status="unknown", probes_used=0,
                               reliability=["no behavioural answer and no content-independent signal to score"],
                               channels=independent.info, tokenizer=independent.info.get("tokenizer"),
                               stack=independent.info.get("api"))
        d = decide(self, scores, independent, transcript)
        channel_info = independent.info
        lines = explain.evidence(self, scores, d, independent, channel_info)
        notes = explain.reliability(self, scores, d)
        family, lineage = explain.family_and_lineage(self, scores, d, independent)
        channel_info["p_unknown"] = round(d.p_unknown, 4)
        # the whole calibrated posterior over the labels (claim checks read P(claimed maker), verify.py)
        channel_info["posterior"] = {self.labels[int(i)]: round(float(d.p[i]), 6) for i in d.order}
        return Attribution(creator=d.creator, confidence=round(d.confidence, 4), status=d.status,
                           candidates=d.candidates(self.labels), evidence=lines[:8], family=family,
                           channels=channel_info, reliability=notes, probes_used=scores.n_behavioural,
                           tokenizer=independent.info.get("tokenizer"), stack=independent.info.get("api"),
                           lineage=lineage)
