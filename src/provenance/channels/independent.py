"""The content-independent channels the classifier adds to the behavioural ones.

Contract: a pure function of a transcript returning one ChannelResult per channel
(tokenizer, api), each possibly ``available=False`` with a reason ("no usage
reported", ...).

Stream segmentation (channels/segmentation.py) is folded into the tokenizer
channel rather than added as a third one, so that one tokenizer is never counted
twice: when usage counts are available they decide (segmentation is then scored
only on request, as a cross-check kept in the summary); when they are not, the
segmentation match stands in for them (with the same family -> creator mapping).
"""

from __future__ import annotations

from ..transcript import Transcript
from .api import api_channel
from .base import ChannelResult
from .tokenizer import tokenizer_channel


def content_independent_channels(transcript: Transcript, *, cross_check: bool = False) -> list[ChannelResult]:
    """``cross_check``: also score stream segmentation when usage counts already decided
    (loading the run-time tokenizers costs a few seconds once per process). Answers pasted
    by hand (a manual transcript) went through no API: both channels are not measured."""
    if transcript.manual:
        from ..questionnaire import NOT_MEASURED
        return [ChannelResult(name="tokenizer", available=False, reason=NOT_MEASURED),
                ChannelResult(name="api", available=False, reason=NOT_MEASURED)]
    tok = tokenizer_channel(transcript)
    seg: ChannelResult | None = None
    if not tok.available or cross_check:
        try:
            from .segmentation import segmentation_channel
            seg = segmentation_channel(transcript)
        except Exception as e:  # an optional extra must never break classification
            seg = ChannelResult(name="segmentation", available=False, reason=f"segmentation failed: {type(e).__name__}")
    if seg is None:
        pass
    elif tok.available:
        tok.summary["segmentation"] = seg.summary if seg.available else {"available": False, "reason": seg.reason}
    elif seg.available:
        why = tok.reason
        tok = ChannelResult(name="tokenizer", available=True, loglik=seg.loglik, default=seg.default,
                            evidence=seg.evidence, summary=dict(seg.summary, source="stream segmentation",
                                                                counts_unavailable=why))
    return [tok, api_channel(transcript)]
