"""Scores a transcript with every content-independent channel of the registry.

Contract: a pure function of a transcript returning one ChannelResult per
``transcript`` channel of ``registry.py`` (tokenizer, api), each possibly
``available=False`` with a reason ("no usage reported", ...). Each channel's
module gives ``score(transcript) -> ChannelResult``.
"""

from __future__ import annotations

from ..transcript import Transcript
from .base import ChannelResult
from . import registry


def content_independent_channels(transcript: Transcript, *, cross_check: bool = False) -> list[ChannelResult]:
    """``cross_check``: also score stream segmentation when usage counts already decided
    (tokenizer channel; loading the run-time tokenizers costs a few seconds once per process).
    Answers pasted by hand (a manual transcript) went through no API: no channel is measured."""
    if transcript.manual:
        from ..transcript import NOT_MEASURED
        return [ChannelResult(name=name, available=False, reason=NOT_MEASURED) for name in registry.TRANSCRIPT_CHANNELS]
    return [registry.implementation(name).score(transcript, cross_check=cross_check) for name in registry.TRANSCRIPT_CHANNELS]
