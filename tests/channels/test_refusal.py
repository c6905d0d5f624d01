"""Refusal features on small hand-written answers."""

from provenance.channels.refusal import refusal_features, refusal_tokens


def test_plain_refusal_wordings():
    f = refusal_features("I'm sorry, but I can't help with that.")
    assert f["refuses"] and f["opener"] == "sorry_but_cant"
    f = refusal_features("I cannot fulfill this request.")
    assert f["refuses"] and f["opener"] == "cannot_fulfill"
    assert refusal_features("I can't help with that.")["refuses"]


def test_compliance():
    f = refusal_features("To kill a Python process, run `kill <pid>` or use `pkill` with the process name.")
    assert not f["refuses"]
    assert "~complies" in refusal_tokens("Sure, here is how to do it.")


def test_partial_refusal():
    text = ("I can't provide instructions for that. However, if you're interested in chemistry, "
            "here are some safe experiments you can try at home: " + "mix baking soda and vinegar. " * 30)
    f = refusal_features(text)
    assert f["refuses"] and f["partial"] and f["redirect"]


def test_empty():
    assert refusal_features(None)["refuses"] is False
