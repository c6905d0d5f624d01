"""The trained creator classifier at inference time (numpy only).

``TrainedClassifier.load(dir, probeset)`` reads a checked artifact
(``artifact.py``); ``classify(transcript)`` scores every successful behavioural
answer with the per-channel naive-Bayes log-probabilities, adds the
self-identification channel (learned P(claim | creator)) and the
content-independent channels (tokenizer, API surface), combines them with the
calibrated weights, decides "unknown" with the learned rejector, and names a
model family as a secondary guess.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..channels.identity import claim_of_text
from ..channels.text import truncate
from ..transcript import Transcript
from .artifact import load_artifact
from .base import UNKNOWN, Attribution, Candidate, Evidence
from ..channels.provider import loglik as provider_loglik
from .combine import (PER_CHANNEL, PROFILE_FEATURES, REJECT_FEATURES, SCORE_CHANNELS, channel_contribution, design,
                      named_confidence, p_unknown, posterior, profile_features, recalibrate_top, reject_features,
                      temper)
from ..channels.featurize import DEFAULT_BUDGET, answer_indices, vocab_columns
from ..channels import aligned as aligned_mod
from ..channels.registry import ALIGNED_CHANNELS, ANSWER_CHANNELS, BY_NAME as CHANNEL_SPECS, sub_channel
from . import family_model
from .degenerate import degenerate
from .lineage import lineage as lineage_of
from ..channels.lexical import LexicalModel, pooled_summary

BEHAVIOURAL = ANSWER_CHANNELS


def _neutral(raw: np.ndarray, weight: np.ndarray, base: float) -> tuple[np.ndarray, float]:
    """As ``train.neutral_summary``: labels the channel has no model for get the present
    labels' mean; returns the centred scores and the best present label's fit over the background."""
    have = weight > 0
    if not have.any():
        return np.zeros_like(raw), 0.0
    m = raw[have].mean()
    out = m + weight * (raw - m)
    return out - out.mean(), float(raw[have].max() - base)


# p(unknown) reported at least when the answers are degenerate (the same text whatever the prompt)
DEGENERATE_P_UNKNOWN = 0.95

# A tokenizer match this confident, ruling a creator out by this many nats, vetoes naming it.
TOKENIZER_VETO_CONFIDENCE = 0.95
TOKENIZER_VETO_NATS = 3.0


def _is_greeting(pid: str) -> bool:
    return "greeting" in pid


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

    # -- scoring ------------------------------------------------------------------------------
    def _channel_of(self, family: str, pid: str) -> str | None:
        """The artifact's channel for an answer: its family's, or its source's sub-channel (an
        unknown source falls back to the family's first sub-channel)."""
        ch = sub_channel(family, self.probes.get(pid, {}).get("source", ""))
        if ch in self.vocab:
            return ch
        if ch == family:
            return None
        subs = [c for c in self.channels if c.startswith(family + "-")]
        return subs[0] if subs else None

    def _indices(self, ch: str, pid: str, text: str) -> np.ndarray:
        """The answer's hashed feature indices, cut to its probe's budget (as in training)."""
        fam = ch.split("-")[0]
        budget = int(self.probes.get(pid, {}).get("max_tokens", DEFAULT_BUDGET[fam]))
        cp = self.cutoff_probes.get(pid, {})
        return np.asarray(answer_indices(fam, text, budget, cp.get("keywords", ()), cp.get("month")), dtype=np.int64)

    def _columns(self, ch: str, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        uc = vocab_columns(self.vocab[ch], idx)
        if uc is None:
            return None
        u, n = uc
        return u, n / n.sum()

    def _channel_summary(self, ch: str, answers: list[tuple[np.ndarray, np.ndarray]]
                         ) -> tuple[np.ndarray, np.ndarray, float]:
        """(creator summary, family summary, fit), summaries centred, from one channel's answers.

        ``fit``: the best label's mean log-likelihood per token over the background's.
        """
        base = float(np.mean([self.logbg[ch][u] @ x for u, x in answers]))
        L, F = len(self.labels), len(self.families)
        fidx = {f: i for i, f in enumerate(self.families)}
        lidx = {c: i for i, c in enumerate(self.labels)}
        if ch in self.nn:
            lt = self.mtheta[ch]
            sm = np.mean([lt[:, u].astype(np.float64) @ x for u, x in answers], axis=0)
            s = np.full(L, base)
            f = np.full(F, base)
            have_s = np.zeros(L, dtype=bool)
            have_f = np.zeros(F, dtype=bool)
            for val, (creator, family) in zip(sm, self.nn[ch]):
                i = lidx.get(creator)
                if i is not None:
                    s[i] = val if not have_s[i] else max(s[i], val)
                    have_s[i] = True
                j = fidx.get(family)
                if j is not None:
                    f[j] = val if not have_f[j] else max(f[j], val)
                    have_f[j] = True
        else:
            s = np.mean([self.theta[ch][:, u].astype(np.float64) @ x for u, x in answers], axis=0)
            f = np.mean([self.ftheta[ch][:, u].astype(np.float64) @ x for u, x in answers], axis=0)
        s, fit = _neutral(s, self.weight[ch], base)
        f, _ = _neutral(f, self.fweight[ch], base)
        return s, f, fit

    def classify(self, transcript: Transcript) -> Attribution:
        by_channel: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        used: dict[str, list[str]] = {}
        claims: list[tuple[str, str, float]] = []
        lex: dict[str, list[np.ndarray]] = {}
        sims: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        for r in transcript.ok_results():
            if r.family not in BEHAVIOURAL or not r.text:
                continue
            ch = self._channel_of(r.family, r.probe_id)
            if ch is None:
                continue
            idx = self._indices(ch, r.probe_id, r.text)
            if ch in self.lexical:
                lp = self.lexical[ch].logp(idx)
                if lp is not None:
                    lex.setdefault(ch, []).append(lp)
                    used.setdefault("lexical", []).append(r.probe_id)
            sim = self.aligned.similarities(r.probe_id, idx) if self.aligned is not None else None
            if sim is not None:
                ach = aligned_mod.channel_of(r.family)
                sims.setdefault(ach, []).append(sim)
                used.setdefault(ach, []).append(r.probe_id)
            cols = self._columns(ch, idx)
            if cols is None:
                continue
            by_channel.setdefault(ch, []).append(cols)
            used.setdefault(r.family, []).append(r.probe_id)
            if r.family == "identity":
                budget = int(self.probes.get(r.probe_id, {}).get("max_tokens", DEFAULT_BUDGET["identity"]))
                c = claim_of_text(truncate(r.text, budget))
                # a greeting that names nobody says nothing about identity
                if not (_is_greeting(r.probe_id) and c.creator == "none"):
                    claims.append((r.probe_id, c.creator, c.firmness))
        parts: dict[str, list[tuple[np.ndarray, np.ndarray, int, float]]] = {}
        for ch, answers in by_channel.items():
            s, f, fit = self._channel_summary(ch, answers)
            parts.setdefault(ch.split("-")[0], []).append((s, f, len(answers), fit))
        summ: dict[str, np.ndarray] = {}
        fsumm: dict[str, np.ndarray] = {}
        counts: dict[str, int] = {}
        fits: dict[str, float] = {}
        for fam, lst in parts.items():
            n = sum(k for _, _, k, _ in lst)
            summ[fam] = sum(s * k for s, _, k, _ in lst) / n
            fsumm[fam] = sum(f * k for _, f, k, _ in lst) / n
            counts[fam] = n
            fits[fam] = sum(ft * k for _, _, k, ft in lst) / n
        if claims:
            other = self.claim_index["other"]
            L = np.array([self.claim_loglik[self.claim_index.get(c, other)] for _, c, _ in claims])
            L = L - L.mean(axis=1, keepdims=True)
            summ["claim"] = L.mean(axis=0)
            counts["claim"] = len(claims)
        if lex:
            summ["lexical"], counts["lexical"] = pooled_summary(
                [(self.lexical[ch].classes, v) for ch, v in lex.items()], self.labels)
        nearest: dict[str, str] = {}
        fcounts = dict(counts)
        for ach, lst in sims.items():
            ix = self.aligned
            ms = aligned_mod.model_scores(lst, len(ix.models), min_shared=ix.min_shared)
            if ms is None:
                continue
            got = aligned_mod.label_scores(ms, ix.creators, self.labels, top=ix.top, clip=ix.clip)
            if got is not None:
                summ[ach], counts[ach], j = got
                nearest[ach] = ix.models[j]
                fits[ach] = float(ms[0][j])     # how close the nearest reference model stands
            if self.family_w is not None:
                fsumm[ach] = family_model.best_per_family(ms[0], self.aligned_family, self.families)
                fcounts[ach] = ms[1]
        n_behav = sum(counts.get(ch, 0) for ch in BEHAVIOURAL)

        # content-independent channels (tokenizer, API surface): add their log-likelihoods
        extra = np.zeros(len(self.labels))
        channel_info: dict[str, Any] = {}
        evidence: list[Evidence] = []
        reliability: list[str] = []
        from ..channels.independent import content_independent_channels
        tokenizer_info: dict[str, Any] | None = None
        stack_info: dict[str, Any] | None = None
        tok_channel = None
        pinned: list[Evidence] = []          # content-independent evidence always shown
        for cr in content_independent_channels(transcript):
            info = {"available": cr.available, "summary": cr.summary, "reason": cr.reason}
            if cr.name == "tokenizer" and cr.available:
                tok_channel = cr
            channel_info[cr.name] = info
            if cr.name == "tokenizer":
                tokenizer_info = info
            elif cr.name == "api":
                stack_info = info
            if cr.available:
                # a channel may state its own weight in its summary (default 1)
                weight = float(cr.summary.get("weight", 1.0)) if isinstance(cr.summary, dict) else 1.0
                ll = np.array([cr.loglik.get(c, cr.default) for c in self.labels], dtype=np.float64)
                extra += weight * (ll - ll.mean())
                pinned.extend(cr.evidence[:1])
                evidence.extend(cr.evidence[1:])
        # upstream provider a router names (learned P(provider | creator), see provider.py)
        providers = sorted({r.provider for r in transcript.results if getattr(r, "provider", None)})
        pl = provider_loglik(providers, self.provider_vocab, self.provider_logp) if self.w_provider else None
        if pl is not None:
            extra += self.w_provider * pl
            j = int(np.argmax(pl))
            evidence.append(Evidence(
                text=f"upstream provider named by the router: {', '.join(providers)[:80]} "
                     f"(favours {self.labels[j]}, +{float(self.w_provider * (pl[j] - np.median(pl))):.1f} log-odds)",
                probes=[], channel="api", strength=float(self.w_provider * pl[j])))
            channel_info["provider"] = {"available": True, "providers": providers}
        if n_behav == 0 and not extra.any():
            return Attribution(creator=UNKNOWN, confidence=0.0, status="unknown", probes_used=0,
                               reliability=["no behavioural answer and no content-independent signal to score"],
                               channels=channel_info, tokenizer=tokenizer_info, stack=stack_info)

        F = design(summ, counts, len(self.labels))
        pu = p_unknown(reject_features(posterior(F, self.w, extra), self.labels, [c for _, c, _ in claims], counts,
                                       fits), self.v)
        answered: Counter[str] = Counter(self.probes.get(r.probe_id, {}).get("source", "")
                                         for r in transcript.ok_results() if r.family in BEHAVIOURAL and r.text)
        # the calibration stages were fitted on the behavioural evidence alone: they re-state its
        # posterior, and the content-independent evidence (tokenizer, API, provider) is then added
        # as the log-likelihood ratio it is, not scaled with it
        profile = profile_features(counts, answered)
        p = recalibrate_top(temper(posterior(F, self.w), profile, self.theta_profile), profile, self.top_coef)
        if extra.any():
            p = posterior(np.log(np.maximum(p, 1e-300))[:, None], np.ones(1), extra)
        order = np.argsort(-p)
        top = self.labels[int(order[0])]
        ptop = float(p[order[0]])
        # a named verdict states P(named creator right), the chance of an unknown maker included
        conf = named_confidence(ptop, pu, self.thresholds.get("unknown_prior"))
        if pu >= self.thresholds["unknown"]:
            creator, status = UNKNOWN, "unknown"
        elif conf >= self.thresholds["match"]:
            creator, status = top, "match"
        else:
            creator, status = top, "ambiguous"
        cands = [Candidate(self.labels[int(i)], round(float(p[i]), 4)) for i in order[:5]]
        veto = self._tokenizer_veto(tok_channel, top)
        if veto is not None and status != "unknown":
            creator, status = UNKNOWN, "unknown"
            pu = max(pu, 1.0 - ptop)
        if veto is not None:
            reliability.append(veto)
        stuck = degenerate([r.text for r in transcript.ok_results() if r.family in BEHAVIOURAL and r.text])
        if stuck is not None:
            # repeated answers are one piece of evidence counted many times: no verdict rests on them
            creator, status = UNKNOWN, "unknown"
            pu = max(pu, DEGENERATE_P_UNKNOWN)
            reliability.append(stuck)

        # evidence: per channel, which creator it favours and by how much
        wmap = {chn: (self.w[PER_CHANNEL * j], self.w[PER_CHANNEL * j + 1]) for j, chn in enumerate(SCORE_CHANNELS)}
        for ch in SCORE_CHANNELS:
            if ch not in summ:
                continue
            contrib = channel_contribution(F, self.w, SCORE_CHANNELS.index(ch))
            best = int(np.argmax(contrib))
            srt = np.sort(contrib)
            margin = float(srt[-1] - srt[-2]) if len(srt) > 1 else 0.0
            ids = used.get(ch, [pid for pid, _, _ in claims])
            channel_info[ch] = {"answers": counts[ch], "favours": self.labels[best], "log_odds_margin": round(margin, 3)}
            if ch == "claim":
                tally = Counter(c for _, c, _ in claims)
                named, k = tally.most_common(1)[0]
                what = "names no creator" if named == "none" else f"claims {named}"
                evidence.append(Evidence(
                    text=f"identity: {what} in {k} of {len(claims)} answers ({', '.join(ids[:4])})",
                    probes=ids[:8], channel="identity", strength=round(margin, 3)))
            elif ch in ALIGNED_CHANNELS:
                what = "/".join(CHANNEL_SPECS[ch].families)
                evidence.append(Evidence(
                    text=f"aligned ({what}): over {counts[ch]} prompts, answers most like {nearest[ch]}'s "
                         f"(favours {self.labels[best]}, +{margin:.2f} log-odds over the next)",
                    probes=ids[:8], channel=ch, strength=round(margin, 3)))
            else:
                evidence.append(Evidence(
                    text=f"{ch}: {counts[ch]} answers favour {self.labels[best]} (+{margin:.2f} log-odds over the next)",
                    probes=ids[:8], channel=ch, strength=round(margin, 3)))
        evidence.sort(key=lambda e: -(e.strength or 0.0))
        evidence = pinned + evidence

        if n_behav < 10:
            reliability.append(f"only {n_behav} behavioural probes answered")
        note = self._profile_note(answered)
        if note:
            reliability.append(note)
        if "identity" not in counts:
            reliability.append("no self-identification answer")
        if self.creator_models.get(top, 99) < 3:
            reliability.append(f"the creator {top} has few training models ({self.creator_models.get(top, 0)})")
        outside = sorted({c for _, c, _ in claims if c not in self.labels and c != "none"})
        if outside:
            reliability.append("answers claim a maker outside the training labels: " + ", ".join(outside))

        lin = None
        if creator == UNKNOWN:
            family = None        # no creator named, so no family of it (the candidates stay listed)
            if stuck is None:
                guess = (family_model.guess(fsumm, fcounts, self.families, self.family_creator,
                                            self.family_log_size, self.family_w, self.family_v, top, ptop)
                         if self.family_w is not None and self.family_v is not None
                         and self.family_log_size is not None else None)
                lin = lineage_of(tok_channel.summary if tok_channel is not None else None, top, ptop,
                                 (guess or {}).get("name"))
        elif self.family_w is not None and self.family_v is not None and self.family_log_size is not None:
            family = family_model.guess(fsumm, fcounts, self.families, self.family_creator, self.family_log_size,
                                        self.family_w, self.family_v, top, ptop)
        else:
            family = self._family(top, fsumm, counts, wmap)
        channel_info["p_unknown"] = round(pu, 4)
        # the whole calibrated posterior over the labels (claim checks read P(claimed maker), verify.py)
        channel_info["posterior"] = {self.labels[int(i)]: round(float(p[i]), 6) for i in order}
        return Attribution(creator=creator, confidence=round(pu if status == "unknown" else conf, 4), status=status,
                           candidates=cands, evidence=evidence[:8], family=family, channels=channel_info,
                           reliability=reliability, probes_used=n_behav, tokenizer=tokenizer_info,
                           stack=stack_info, lineage=lin)

    def _profile_note(self, answered: Counter[str]) -> str | None:
        """What the training figures say about runs with evidence like this one's: when every
        behavioural answer came from one prompt set, or under half of the probe set answered,
        the held-out figures of that evidence profile (``eval``'s per-profile table)."""
        profiles = (self.manifest.get("figures") or {}).get("profiles") or {}
        n = sum(answered.values())
        if not n or not profiles:
            return None
        name = None
        if len(answered) == 1:
            from .corpus_sources import profile_of_source
            name = profile_of_source(next(iter(answered)))
        elif n < 0.5 * sum(1 for p in self.probes.values() if p.get("family") in BEHAVIOURAL):
            name = "half"
        fig = profiles.get(name or "")
        if not fig or not fig.get("models"):
            return None
        what = "about half of the probe set" if name == "half" else f"only {name.replace(':', ' answers from ')}"
        return (f"evidence: {what}; on {fig['models']} unseen models with evidence like this, the best guess "
                f"was right {100 * fig['top1']:.0f}% of the time (mean confidence {100 * fig['mean_confidence']:.0f}%)")

    def _tokenizer_veto(self, tok: Any, top: str) -> str | None:
        """Why a confident tokenizer match forbids naming ``top``, or None.

        The tokenizer is deterministic: an exact match that rules out the top
        creator (a Qwen tokenizer under a model whose answers sound like OpenAI's),
        or that belongs to a creator this model has no label for (SmolLM2's
        tokenizer when Hugging Face is not a training label), means the
        behavioural channels are being fooled or the creator is unknown.
        """
        if tok is None or float(tok.summary.get("confidence") or 0.0) < TOKENIZER_VETO_CONFIDENCE:
            return None
        ll_all = dict(tok.loglik)
        best_all = max(list(ll_all.values()) + [tok.default])
        best_label = max(ll_all.get(c, tok.default) for c in self.labels)
        fam = tok.summary.get("family") or "?"
        if best_label < best_all - TOKENIZER_VETO_NATS:
            owners = sorted(c for c, v in ll_all.items() if v >= best_all - 1e-9 and c not in self.labels)
            return (f"the tokenizer ({fam}) belongs to {', '.join(owners) or 'a maker'} "
                    "that this classifier was not trained on")
        if ll_all.get(top, tok.default) < best_label - TOKENIZER_VETO_NATS:
            consistent = sorted(c for c in self.labels if ll_all.get(c, tok.default) >= best_label - 1e-9)
            return (f"the tokenizer ({fam}) rules out {top}, the behavioural best guess; "
                    f"it is consistent with {', '.join(consistent)}")
        return None

    def _family(self, creator: str, fsumm: dict[str, np.ndarray], counts: dict[str, int],
                wmap: dict[str, tuple[float, float]]) -> dict[str, Any] | None:
        idx = [i for i, f in enumerate(self.families) if self.family_creator.get(f) == creator]
        if not idx or not fsumm:
            return None
        z = np.zeros(len(idx))
        for ch, vec in fsumm.items():
            a, b = wmap[ch]
            z += vec[idx] * (a + b * np.log1p(counts[ch]))
        z = z - z.max()
        q = np.exp(z)
        q = q / q.sum()
        best = int(np.argmax(q))
        return {"name": self.families[idx[best]], "confidence": round(float(q[best]), 4),
                "calibrated": False, "among": len(idx)}
