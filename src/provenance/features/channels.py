"""The content-independent channels the classifier adds to the behavioural ones.

OWNER: tokenizer/API-surface work. Contract: a pure function of a transcript
returning one ChannelResult per channel (tokenizer, api), each possibly
``available=False`` with a reason ("no usage reported", "no stream").
"""

from __future__ import annotations

from ..transcript import Transcript
from .base import ChannelResult


def content_independent_channels(transcript: Transcript) -> list[ChannelResult]:
    return []
