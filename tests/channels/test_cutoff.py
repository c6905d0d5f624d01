"""Cutoff features on small hand-written answers."""

from provenance.channels.cutoff import cutoff_tokens, estimate_cutoff, event_keywords, event_knowledge, stated_cutoff


def test_keywords_and_knowledge():
    kw = event_keywords("She won the Tour de Lune on March 3, 2031, finishing in 41 hours.", "Ada Example")
    assert "2031" in kw and "march" in kw
    assert event_knowledge("Yes: she won the Tour de Lune in March 2031 in about 41 hours.", kw) == "knows"
    assert event_knowledge("As of my last update, I have no information about that race.", kw) == "abstains"
    assert event_knowledge("She came second in 2019.", kw) == "wrong"


def test_stated_cutoff():
    assert stated_cutoff("As of my last update in October 2023, nothing was announced.") == "2023-10"
    assert stated_cutoff("My knowledge cutoff is 2024.") == "2024-06"
    assert stated_cutoff("Nothing about dates here.") is None


def test_tokens_and_estimate():
    toks = cutoff_tokens("As of my knowledge cutoff in April 2024 I can't confirm.", ["2031"], "2031-03")
    assert "~event:abstains" in toks and "~stated:2024-04" in toks
    assert estimate_cutoff({"2024-01": "knows", "2024-06": "knows", "2025-01": "abstains"}) == "2024-06"
    assert estimate_cutoff({"2024-01": "wrong"}) is None
