"""Style features and stable hashing on small hand-written answers."""

from provenance.channels.style import answer_tokens, style_markers, style_summary
from provenance.channels.text import HASH_DIM, hash_tokens, stable_hash, truncate


def test_summary_counts_formatting():
    text = "## Plan\n\n- **first** step\n- second step\n1. numbered\n\n```py\nx = 1\n```\nHope this helps! 🎉"
    s = style_summary(text)
    assert s["headers"] == 1 and s["bullets"] == 2 and s["numbered"] == 1
    assert s["bold"] == 1 and s["emoji"] == 1 and s["code_blocks"] == 1


def test_markers_and_tokens():
    m = style_markers("Certainly! Here is a list:\n- one\n- two")
    assert "~open:certainly ! here" in m and "~bullet-" in m and "~colon" in m
    toks = answer_tokens("Hello world")
    assert "hello" in toks and "hello world" in toks


def test_hash_is_stable_and_bounded():
    assert stable_hash("hello") == stable_hash("hello")
    assert stable_hash("hello") == 907060870 % HASH_DIM
    assert all(0 <= h < HASH_DIM for h in hash_tokens(["a", "b", "~len:3", "通义"]))


def test_truncate_budget():
    assert truncate("x" * 5000, 300) == "x" * 1200
