"""Identity claim extraction on small hand-written answers."""

from provenance.channels.identity import claim_of_text, claim_tokens, transcript_claims
from provenance.transcript import Transcript


def test_english_claims():
    assert claim_of_text("I'm Claude, an AI assistant made by Anthropic.").creator == "Anthropic"
    assert claim_of_text("I am ChatGPT, a large language model trained by OpenAI.").creator == "OpenAI"
    assert claim_of_text("I am Gemma, an open model from Google DeepMind.").creator == "Google"


def test_chinese_claims():
    assert claim_of_text("我是通义千问，由阿里云开发的大语言模型。").creator == "Alibaba"
    assert claim_of_text("我是DeepSeek，由深度求索公司开发。").creator == "DeepSeek"
    assert claim_of_text("我是智谱清言。").creator == "Zhipu"
    assert claim_of_text("我是Kimi，由月之暗面开发。").creator == "Moonshot"
    assert claim_of_text("我是文心一言，百度出品。").creator == "Baidu"


def test_unlisted_maker_is_other():
    c = claim_of_text("I am Zeus, a model developed by Acme Robotics.")
    assert c.creator == "other"
    assert c.firmness >= 0.7


def test_descriptive_maker_phrase_resolves():
    c = claim_of_text("I'm an assistant independently developed by the Chinese company DeepSeek Inc.")
    assert c.creator == "DeepSeek"


def test_no_claim():
    c = claim_of_text("Hello! How can I help you today?")
    assert c.creator == "none" and c.firmness == 0.0
    assert claim_of_text(None).creator == "none"


def test_tokens_and_transcript():
    assert "~claim:Anthropic" in claim_tokens("I'm Claude by Anthropic.")
    t = Transcript.from_texts({"identity.a": "I am Grok, built by xAI."}, {"identity.a": "identity"})
    assert transcript_claims(t)["identity.a"].creator == "xAI"
