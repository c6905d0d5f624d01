"""`provenance verify`, claim checks in `classify` and `scan`, the model-name table and the
claim thresholds. Endpoints are real loopback servers replaying a maker's recorded answers
(data/e2e-reports: Qwen2.5-Coder-0.5B, Alibaba, on llama.cpp)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from provenance.claim import Claim, claim_for, claim_from_model_name, parse_claim
from provenance.classifier import claims as claims_mod
from provenance.errors import ConfigError

from factory import REPORTS, cli_env, replay_server

QWEN = REPORTS / "qwen2.5-coder-0.5b.json"
FAKE_KEY = "sk-FAKEKEY-verify-test-3b9d2f"


def cli(*args, timeout=180, env=None):
    return subprocess.run([sys.executable, "-m", "provenance", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=cli_env(env))


# -- the model-name table ---------------------------------------------------------------------

def test_every_corpus_model_name_maps_to_its_creator(reference_dir) -> None:
    models = json.loads((reference_dir / "models.json").read_text())
    wrong = {m: (v["creator"], getattr(claim_from_model_name(m), "creator", None)) for m, v in models.items()
             if getattr(claim_from_model_name(m), "creator", None) != v["creator"]}
    assert not wrong


@pytest.mark.parametrize("name,creator,family", [
    ("gpt-4o", "OpenAI", "GPT-4o"), ("o3-mini", "OpenAI", "OpenAI o-series"), ("chatgpt-4o-latest", "OpenAI", "GPT-4o"),
    ("openai/gpt-4.1-mini", "OpenAI", "GPT-4.1"), ("anthropic/claude-3.5-sonnet", "Anthropic", "Claude 3.5"),
    ("models/gemini-1.5-pro", "Google", "Gemini 1.x"), ("gemma-3-27b-it", "Google", "Gemma 3"),
    ("meta-llama/Meta-Llama-3.1-70B-Instruct", "Meta", "Llama 3"), ("Qwen/Qwen2.5-72B-Instruct", "Alibaba", "Qwen2.5"),
    ("qwq-32b", "Alibaba", "Qwen2.5"), ("deepseek-r1", "DeepSeek", "DeepSeek-R1"), ("mixtral-8x7b", "Mistral", "Mixtral"),
    ("ministral-8b", "Mistral", "Mistral"), ("grok-4", "xAI", "Grok"), ("glm-4.5", "Zhipu", "GLM"),
    ("kimi-k2", "Moonshot", "Kimi"), ("mistralai/some-new-model", "Mistral", None),
])
def test_model_names_map_to_makers(name, creator, family) -> None:
    c = claim_from_model_name(name)
    assert c is not None and (c.creator, c.family, c.source) == (creator, family, "model name")


def test_names_of_no_maker_and_claims_given_by_hand() -> None:
    for name in ("zeus-1", "my-model", "nousresearch/hermes-3", ""):
        assert claim_from_model_name(name) is None
    with pytest.raises(ConfigError, match="--claim CREATOR"):
        claim_for("zeus-1", None)
    assert claim_for("zeus-1", "openai/GPT-4o") == Claim("OpenAI", "GPT-4o", "--claim", "openai/GPT-4o")
    assert parse_claim("Mistral AI").creator == "Mistral" and parse_claim("alibaba cloud/Qwen3").family == "Qwen3"
    with pytest.raises(ConfigError, match="unknown maker 'Acme'.*OpenAI"):
        parse_claim("Acme/Zeus")


# -- thresholds from leave-one-model-out predictions -------------------------------------------

def _preds(n_per=40, makers=("A", "B", "C")):
    """Synthetic out-of-fold predictions: most models put most mass on their maker, some do not."""
    import random
    rng = random.Random(1)
    out = []
    for c in makers:
        for i in range(n_per):
            own = rng.choice([0.95, 0.8, 0.6, 0.3, 0.05, 0.002]) if i % 7 else 1e-5
            rest = [x for x in makers if x != c]
            p = {c: own, rest[0]: (1 - own) * 0.7, rest[1]: (1 - own) * 0.3}
            out.append({"model": f"{c}-{i}", "creator": c, "mode": "lomo", "subset": "all", "p": p})
    return out


def test_thresholds_keep_false_alarms_within_one_percent() -> None:
    preds = _preds()
    known = {p["model"]: True for p in preds}
    f = claims_mod.claim_figures(preds, known)
    th = f["thresholds"]
    genuine = [p["p"][p["creator"]] for p in preds]
    assert sum(g < th["inconsistent_below"] for g in genuine) <= 0.01 * len(genuine)
    assert f["false_alarm"] <= 0.01 and f["genuine_models"] == 120
    assert th["inconsistent_below"] <= th["consistent_at"]
    assert 0 <= f["detection"] <= 1 and set(f["per_claim"]) == {"A", "B", "C"}
    rates = f["genuine_consistent"] + f["genuine_inconclusive"] + f["false_alarm"]
    assert rates == pytest.approx(1.0, abs=1e-3)


def test_thresholds_come_from_the_manifest_or_the_documented_defaults() -> None:
    assert claims_mod.thresholds_of({})["source"] == "defaults"
    got = claims_mod.thresholds_of({"claims": {"thresholds": {"inconsistent_below": 0.02, "consistent_at": 0.7}}})
    assert got == {"inconsistent_below": 0.02, "consistent_at": 0.7, "source": "model manifest"}
    assert claims_mod.verdict(0.01, got) == "inconsistent" and claims_mod.verdict(0.7, got) == "consistent"
    assert claims_mod.verdict(0.3, got) == "inconclusive"


# -- against real loopback servers, with the shipped model -------------------------------------

@pytest.fixture(scope="module")
def shipped():
    from provenance.classifier import default_model_dir
    from provenance.probes import load_probeset
    d = default_model_dir()
    if d is None:
        pytest.skip("no shipped model")
    try:
        from provenance.classifier import load_classifier
        load_classifier(probeset=load_probeset())
    except ConfigError as e:          # a model trained on another probe set than the shipped one
        pytest.skip(f"shipped model does not load: {e}")
    return d


@pytest.fixture(scope="module")
def qwen_server(shipped):
    with replay_server(QWEN, "qwen2") as srv:
        yield srv


def test_genuine_answers_under_another_makers_name_are_inconsistent(qwen_server, tmp_path) -> None:
    out = tmp_path / "r.json"
    r = cli("verify", qwen_server.base_url, "--model", "gpt-4o", "--no-store", "-o", out)
    assert r.returncode == 0, r.stderr                 # a completed run exits 0 whatever the verdict
    assert "INCONSISTENT" in r.stdout and "Claim" in r.stdout
    doc = json.loads(out.read_text())
    c = doc["claim"]
    assert (c["creator"], c["family"], c["source"], c["given"]) == ("OpenAI", "GPT-4o", "model name", "gpt-4o")
    assert c["verdict"] == "inconsistent" and c["decided_by"] == "tokenizer"     # Qwen's tokenizer: decisive
    assert c["evidence"][0]["stance"] == "contradicts" and c["evidence"][0]["channel"] == "tokenizer"
    assert 0.0 <= c["probability"] < c["thresholds"]["consistent_at"]
    # it stopped once settled, and says what it took
    assert c["probes_sent"] < len(doc["probes"]) and c["stopped_because"].startswith("settled")
    assert c["tokens"] == doc["cost"]["tokens_total"] > 0
    _check_schema(doc)

    r = cli("verify", qwen_server.base_url, "--model", "gpt-4o", "--no-store", "--json", "--fail-on", "inconsistent")
    assert r.returncode == 4, r.stderr
    assert json.loads(r.stdout)["claim"]["verdict"] == "inconsistent"


def test_genuine_answers_under_their_own_name_are_never_inconsistent(qwen_server, tmp_path) -> None:
    r = cli("verify", qwen_server.base_url, "--model", "qwen2.5-coder-0.5b", "--no-store", "--json",
            "--fail-on", "inconsistent", "--all-probes")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    c = doc["claim"]
    assert c["creator"] == "Alibaba" and c["verdict"] in ("consistent", "inconclusive")
    assert c["probes_sent"] == len(doc["probes"])       # --all-probes: nothing skipped
    if c["verdict"] == "consistent":
        assert c["evidence"][0]["stance"] == "supports"
    # the same answers claimed as Alibaba by hand under a name of no maker
    r = cli("verify", qwen_server.base_url, "--model", "zeus-1", "--claim", "Alibaba/Qwen2.5", "--no-store", "--json")
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)["claim"]
    assert (c["source"], c["family"]) == ("--claim", "Qwen2.5") and c["verdict"] != "inconsistent"


def test_behaviour_alone_grades_the_claim(shipped) -> None:
    """No usage reported, so no tokenizer: the verdict is graded on what the answers say."""
    from provenance.testing.fakeserver import FakeLLMServer
    # the claim worded per prompt: one text pasted under every prompt is degenerate evidence
    def claude(body: dict) -> str:
        asked = str(((body.get("messages") or [{}])[-1]).get("content", ""))[:60]
        return f"I am Claude, an AI assistant made by Anthropic. You asked: {asked}"
    with FakeLLMServer(answer_fn=claude, report_usage=False) as srv:
        r = cli("verify", srv.base_url, "--model", "gpt-4o", "--no-store", "--json")
        assert r.returncode == 0, r.stderr
        c = json.loads(r.stdout)["claim"]
        assert c["verdict"] == "inconsistent" and c["decided_by"] == "behaviour"
        assert c["probability"] < c["thresholds"]["inconsistent_below"] and c["best_guess"] == "Anthropic"
        assert c["evidence"][0]["stance"] == "contradicts"
        assert not any(e["channel"] == "tokenizer" for e in c["evidence"])
        r = cli("verify", srv.base_url, "--model", "claude-3-opus", "--no-store", "--json")
        c = json.loads(r.stdout)["claim"]
        assert r.returncode == 0 and c["verdict"] != "inconsistent" and c["evidence"][0]["stance"] in ("supports", "contradicts")


def test_a_name_of_no_maker_is_a_usage_error_naming_claim(qwen_server) -> None:
    r = cli("verify", qwen_server.base_url, "--model", "zeus-1", "--no-store")
    assert r.returncode == 2
    assert "--claim" in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    r = cli("verify", qwen_server.base_url, "--model", "zeus-1", "--claim", "Acme", "--no-store")
    assert r.returncode == 2 and "unknown maker" in r.stderr
    r = cli("verify", qwen_server.base_url, "--model", "gpt-4o", "--fail-on", "sometimes", "--no-store")
    assert r.returncode == 2 and "--fail-on" in r.stderr


def test_classify_rechecks_a_stored_claim_offline(qwen_server, tmp_path) -> None:
    out = tmp_path / "r.json"
    db = tmp_path / "runs.db"
    r = cli("verify", qwen_server.base_url, "--model", "claude-3-opus", "--db", db, "-o", out)
    assert r.returncode == 0, r.stderr
    before = json.loads(out.read_text())["claim"]
    n = qwen_server.request_count
    r = cli("classify", out, "--json")
    assert r.returncode == 0, r.stderr
    after = json.loads(r.stdout)["claim"]
    assert (after["creator"], after["verdict"], after["source"]) == (before["creator"], before["verdict"], before["source"])
    r = cli("classify", out, "--json", "--claim", "Alibaba")
    assert r.returncode == 0 and json.loads(r.stdout)["claim"]["verdict"] != "inconsistent"
    rid = json.loads(out.read_text())["run"]["id"]
    r = cli("classify", "--run", rid, "--db", db)
    assert r.returncode == 0, r.stderr
    assert "Claim" in r.stdout and "Anthropic" in r.stdout
    assert qwen_server.request_count == n            # offline: no request


def test_scan_checks_each_entrants_claim(qwen_server, tmp_path) -> None:
    srv = qwen_server
    ents = [
        {"name": "relay-gpt", "base_url": srv.url_for("a"), "model": "gpt-4o"},
        {"name": "honest", "base_url": srv.url_for("b"), "model": "qwen2.5-coder-0.5b"},
        {"name": "stated", "base_url": srv.url_for("c"), "model": "zeus-1", "claim": "Anthropic"},
        {"name": "anonymous", "base_url": srv.url_for("d"), "model": "entrant-7"},
    ]
    ef = tmp_path / "entrants.json"
    ef.write_text(json.dumps(ents))
    out = tmp_path / "out.jsonl"
    r = cli("scan", ef, "--db", tmp_path / "runs.db", "--out", out, timeout=400)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    by = {x["target"]["name"]: x for x in lines[:-1]}
    assert by["relay-gpt"]["claim"]["verdict"] == "inconsistent"
    assert by["honest"]["claim"]["verdict"] != "inconsistent"
    assert by["stated"]["claim"]["source"] == "entrants file" and by["stated"]["claim"]["verdict"] == "inconsistent"
    assert "claim" not in by["anonymous"]
    s = lines[-1]
    assert s["claims"] == {"checked": 3, "consistent": s["claims"]["consistent"], "inconsistent": 2,
                           "inconclusive": s["claims"]["inconclusive"], "not_checked": 1}
    assert "2 of 4 entrants inconsistent with their claimed maker" in r.stdout
    assert "claim" in r.stdout

    # --json carries it; a resumed scan re-checks the stored reports offline
    n = srv.request_count
    r = cli("scan", ef, "--db", tmp_path / "runs.db", "--json", timeout=400)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines[-1]["claims"]["inconsistent"] == 2 and srv.request_count == n


def test_entrants_claim_column_is_validated(tmp_path) -> None:
    """Probing reads the claim column as written; the run layer parses it (a one-line error
    naming the file, line and field), and a scan checks every entrant's before its first request."""
    from provenance.probing.entrants import parse_entrants
    from provenance.run.scan import entrant_claims, stated_claim
    ents = parse_entrants("name,base_url,model,claim\na,http://127.0.0.1:9/v1,m,openai/GPT-4o\n"
                          "b,http://127.0.0.1:9/v1,gpt-4o,\n", "e.csv")
    assert stated_claim(ents[0]) == Claim("OpenAI", "GPT-4o", "entrants file", "openai/GPT-4o")
    assert stated_claim(ents[1]) is None
    assert entrant_claims(ents)["b"].creator == "OpenAI"          # from its model name
    bad = parse_entrants("name,base_url,model,claim\na,http://127.0.0.1:9/v1,m,Acme\n", "e.csv")
    with pytest.raises(ConfigError, match=r"e.csv:2.*field 'claim'.*unknown maker"):
        entrant_claims(bad)


def _check_schema(doc) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from provenance.report import report_schema
    jsonschema.validate(doc, report_schema())


def _tok_transcript(family: str | None):
    """Billed prompt tokens as a server with ``family``'s tokenizer would bill them (None: counts
    that match no family in the table)."""
    from importlib import resources
    from provenance.probes import load_probeset
    from provenance.transcript import ProbeResult, Transcript
    table = json.loads(resources.files("provenance").joinpath("data/tokenizers.json").read_text())
    fam = table["families"][family or "qwen2"]
    results = []
    for i, p in enumerate(load_probeset().probes):
        usage = None
        if p.id == table["baseline"]["probe"]:
            usage = {"prompt_tokens": 20 + fam["baseline"], "completion_tokens": 1}
        elif p.id in fam["counts"]:
            odd = 0 if family else 7 + 5 * (i % 4)            # far from every family's count
            usage = {"prompt_tokens": 20 + fam["counts"][p.id] + odd, "completion_tokens": 1}
        results.append(ProbeResult(probe_id=p.id, family=p.family, text="ok", usage=usage))
    return Transcript(target={}, probeset={}, results=results)


def test_tokenizer_stance() -> None:
    from provenance.verify import tokenizer_stance
    qwen = _tok_transcript("qwen2")
    assert tokenizer_stance("Meta", qwen)[0] == "decisive"
    assert tokenizer_stance("OpenAI", qwen)[0] == "decisive"
    assert tokenizer_stance("Alibaba", qwen)[0] == "supports"
    assert tokenizer_stance("DeepSeek", qwen)[0] != "decisive"          # R1 distills use Qwen's tokenizer
    assert tokenizer_stance("OpenAI", _tok_transcript("o200k"))[0] == "supports"
    odd = tokenizer_stance("OpenAI", _tok_transcript(None))
    assert odd is not None and odd[0] != "decisive"   # counts matching no known family: graded, not proof


def test_training_stores_the_thresholds_verify_reads(tmp_path) -> None:
    """run_training computes the claim thresholds from its LOMO predictions; export stores them
    in the manifest; verify reads them from there (the factory's synthetic corpus)."""
    from provenance.classifier.model import TrainedClassifier
    from provenance.training.export import export
    from provenance.training.train import run_training
    from provenance.probes import load_probeset
    from provenance.transcript import Transcript
    from provenance.verify import check_claim, thresholds_for
    from factory import CREATORS, PROMPTS, synthetic_corpus

    corpus, probes = synthetic_corpus(tmp_path)
    tr, rows, preds, figs = run_training(corpus, (), probes)
    c = figs["claims"]
    assert c["genuine_models"] == 9 and c["false_alarm"] <= 0.01
    assert all(isinstance(p.get("p"), dict) and abs(sum(p["p"].values()) - 1) < 1e-6 for p in preds)
    clf = TrainedClassifier.load(export(tr, rows, preds, figs, tmp_path / "model"), load_probeset(probes))
    th = thresholds_for(clf)
    assert th["source"] == "model manifest"
    assert th["inconsistent_below"] == pytest.approx(c["thresholds"]["inconsistent_below"])
    # OpenAI's style and claim, claimed as Anthropic: graded by behaviour against those thresholds
    texts = {f"style.{p}": CREATORS["OpenAI"][0].format(w="lamps", v="maps") for p in PROMPTS}
    texts["identity.who"] = CREATORS["OpenAI"][1]
    t = Transcript.from_texts(texts, {k: k.split(".")[0] for k in texts})
    from provenance.run.steps import classify_report_dict
    rep = classify_report_dict(t, clf, claim=parse_claim("Anthropic"))
    got = rep["claim"]
    assert got["decided_by"] == "behaviour" and got["best_guess"] == "OpenAI"
    assert got["verdict"] == ("inconsistent" if got["probability"] < th["inconsistent_below"] else
                              "consistent" if got["probability"] >= th["consistent_at"] else "inconclusive")
    assert check_claim(parse_claim("OpenAI"), rep["attribution"], t, clf)["verdict"] != "inconsistent"


def test_runs_show_and_list_give_a_verify_runs_claim_verdict(qwen_server, tmp_path) -> None:
    """Issue 36 item 6: `runs show` on a verify run renders its claim check, `runs list` its claim
    verdict (not the creator); the claim's probability says which quantity it is."""
    db = tmp_path / "runs.db"
    r = cli("verify", qwen_server.base_url, "--model", "gpt-4o", "--db", db, "--json")
    assert r.returncode == 0, r.stderr
    rid = json.loads(r.stdout)["run"]["id"]
    show = cli("runs", "show", rid, "--db", db, env={"COLUMNS": "200"})
    assert show.returncode == 0, show.stderr
    assert "Verdict: INCONSISTENT" in show.stdout and "Claim" in show.stdout
    assert "if the maker is one this classifier knows" in show.stdout.split("Verdict: INCONSISTENT")[1].splitlines()[0]
    listing = cli("runs", "list", "--db", db, env={"COLUMNS": "200"}).stdout
    assert "inconsistent (claims OpenAI)" in listing
    rows = json.loads(cli("runs", "list", "--db", db, "--json").stdout)
    assert rows[0]["claim"] == {"creator": "OpenAI", "family": "GPT-4o", "verdict": "inconsistent"}
