#!/usr/bin/env python3
"""Write docs/accuracy.md from the JSON that ``provenance eval --json`` prints.

Every figure on that page is written once, by the tool; this script only lays it out.
Missing keys (an older or newer eval) are skipped; keys it does not know are listed
generically under "Other figures", so nothing the tool measured is dropped.

Examples:
    provenance eval --corpus ../shared/reference --json > /tmp/eval.json
    python scripts/gen_accuracy_doc.py /tmp/eval.json             # writes docs/accuracy.md
    provenance eval --corpus ../shared/reference --json | python scripts/gen_accuracy_doc.py --stdout
    python scripts/gen_accuracy_doc.py /tmp/eval.json --readme-table   # the short table for README.md

Exit codes: 0 done, 2 unreadable or malformed input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

EVAL_COMMAND = ("provenance eval --corpus ../shared/reference --json > eval.json` and `provenance eval --corpus "
                "../shared/reference --questionnaire 5,10,20 --json > q.json")
GEN_COMMAND = "python scripts/gen_accuracy_doc.py eval.json --questionnaire q.json"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "accuracy.md"

# keys laid out by a dedicated section; anything else goes to "Other figures"
_SCALAR_HEADLINE = ("lomo_models", "lomo_top1", "lomo_top3", "lomo_reported_accuracy", "lomo_unknown_rate",
                    "lomo_ece", "lomo_ece_reported", "lomo_log_loss", "loco_models", "loco_unknown_rate",
                    "worst", "worst_gap")
_SETTINGS = ("budget", "budget_order", "api_channel", "aligned_channels", "train_seconds", "probeset")
_SECTIONS = ("interval95", "deal_spread", "unknown_threshold_sweep", "name_threshold_sweep", "profiles", "rich", "with_provider",
             "beyond_greeting", "family", "reach", "per_source", "per_creator", "confusion", "derivatives",
             "verify", "claims", "questionnaire", "plots", "verdicts")
_KNOWN = set(_SCALAR_HEADLINE) | set(_SETTINGS) | set(_SECTIONS)


class InputError(Exception):
    pass


# ---------------------------------------------------------------- formatting

def fmt(x: Any) -> str:
    """A cell: None -> '-', floats to 3 places, lists of numbers joined, text escaped for a table."""
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.1f}" if abs(x) >= 10 else f"{x:.3f}"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, (list, tuple)) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in x):
        return ", ".join(fmt(v) for v in x)
    if isinstance(x, (dict, list, tuple)):
        x = json.dumps(x, sort_keys=True)
    return cell(str(x))


def cell(s: str, cap: int = 200) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped, size capped."""
    s = " ".join(s.split())
    if len(s) > cap:
        s = s[: cap - 3] + "..."
    return s.replace("|", "\\|")


def get(d: Any, *path: str) -> Any:
    for k in path:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def rng(v: Any) -> str | None:
    """[lo, hi] -> 'lo-hi'; [min, mean, max] -> 'min-max (mean m)'."""
    if not isinstance(v, (list, tuple)) or not all(num(x) is not None for x in v):
        return None
    if len(v) == 2:
        return f"{fmt(float(v[0]))}-{fmt(float(v[1]))}"
    if len(v) == 3:
        return f"{fmt(float(v[0]))}-{fmt(float(v[2]))}, mean {fmt(float(v[1]))}"
    return None


def table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    header = list(header)
    out = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    n = 0
    for r in rows:
        out.append("| " + " | ".join(fmt(c) for c in r) + " |")
        n += 1
    return out if n else []


def flatten(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Scalar (and number-list) entries of a possibly nested dict, keys joined with '.'."""
    out: list[tuple[str, Any]] = []
    if not isinstance(d, dict):
        return [(prefix or "value", d)] if _scalarish(d) else []
    for k in sorted(d, key=str):
        v, key = d[k], f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.extend(flatten(v, key))
        elif _scalarish(v):
            out.append((key, v))
    return out


def _scalarish(v: Any) -> bool:
    if v is None or isinstance(v, (str, int, float, bool)):
        return True
    return isinstance(v, (list, tuple)) and all(v2 is None or isinstance(v2, (str, int, float, bool)) for v2 in v)


def kv_table(d: Any) -> list[str]:
    return table(("figure", "value"), flatten(d))


# ---------------------------------------------------------------- headline

def headline_top1_label(f: dict) -> str:
    """Since the provider-free headline (issue 23), ``with_provider`` holds the provider-aided
    figures and the top-level ones are without the provider; older evals mixed it in unless
    --without-api was given."""
    if "with_provider" in f or f.get("api_channel") is False:
        return "LOMO creator top-1, without the provider channel"
    return "LOMO creator top-1 (upstream provider included)"


def headline_rows(f: dict) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []

    def add(label: str, key: str, extra: Callable[[], str | None] | None = None) -> None:
        v = f.get(key)
        if v is None:
            return
        s = fmt(v)
        more = extra() if extra else None
        rows.append((label, f"{s} ({more})" if more else s))

    def models(key: str) -> Callable[[], str | None]:
        return lambda: f"{f[key]} models" if isinstance(f.get(key), int) else None

    def top1_extra() -> str | None:
        parts = []
        if isinstance(f.get("lomo_models"), int):
            parts.append(f"{f['lomo_models']} models")
        iv = rng(get(f, "interval95", "lomo_top1"))
        if iv:
            parts.append(f"95% interval {iv}")
        return "; ".join(parts) or None

    def ece_extra() -> str | None:
        parts = []
        ds = rng(get(f, "deal_spread", "lomo_ece"))
        if ds:
            parts.append(f"{ds} over {get(f, 'deal_spread', 'deals') or 'several'} deals of the calibrator's folds")
        cal = get(f, "interval95", "lomo_ece_if_calibrated")
        if isinstance(cal, list) and cal and num(cal[0]) is not None:
            parts.append(f"a perfectly calibrated classifier: {fmt(float(cal[0]))}")
        return "; ".join(parts) or None

    def ll_extra() -> str | None:
        ds = rng(get(f, "deal_spread", "lomo_log_loss"))
        return f"{ds} over the same deals" if ds else None

    add(headline_top1_label(f), "lomo_top1", top1_extra)
    add("LOMO top-3", "lomo_top3")
    add("LOMO ECE of the top-1 confidence", "lomo_ece", ece_extra)
    add("LOMO ECE when a creator is named", "lomo_ece_reported")
    add("LOMO log loss of the true creator (lower is better)", "lomo_log_loss", ll_extra)
    if f.get("worst") is not None or f.get("worst_gap") is not None:
        rows.append(("worst evidence profile: mean confidence minus top-1",
                     f"{fmt(f.get('worst_gap'))} ({cell(str(f.get('worst')))})"))
    add("known creators' models named right (`unknown` counts as wrong)", "lomo_reported_accuracy")
    add("known creators' models reported `unknown`", "lomo_unknown_rate")
    add("LOCO: unknown creators' models reported `unknown`", "loco_unknown_rate", models("loco_models"))
    wp = f.get("with_provider")
    if isinstance(wp, dict) and wp.get("lomo_top1") is not None:
        n = wp.get("lomo_models")
        rows.append(("LOMO top-1 with the upstream provider (router metadata)",
                     fmt(wp["lomo_top1"]) + (f" ({n} models)" if isinstance(n, int) else "")))
    rich = f.get("rich")
    if isinstance(rich, dict) and rich.get("lomo_top1") is not None:
        rows.append((f"LOMO top-1 over models with {rich.get('min_answers', '?')}+ answers",
                     fmt(rich["lomo_top1"]) + (f" ({rich['lomo_models']} models)"
                                               if isinstance(rich.get("lomo_models"), int) else "")))
    return rows


README_BEGIN = "<!-- BEGIN generated by scripts/gen_accuracy_doc.py --readme -->"
README_END = "<!-- END generated -->"


def confident_label(vd: dict) -> str:
    """The README row of the verdicts stated at 0.9+: their count (one verdict per model of the
    mix) and, where eval gives it, how many are right; the value is the share right weighted as
    the mix weighs its models, which is why it need not be a fraction of the count."""
    n, k = vd.get("confident_models"), vd.get("confident_right")
    right = f", {k} of them right" if isinstance(k, int) else ""
    return f"verdicts stated at 0.9+ that are right, weighted as the mix ({n} verdicts{right})"


def readme_table(f: dict) -> str:
    """The short headline table for README.md."""
    wp = f.get("with_provider") if isinstance(f.get("with_provider"), dict) else {}
    rows = [
        (headline_top1_label(f), f.get("lomo_top1")),
        ("ECE of the top-1 confidence", f.get("lomo_ece")),
        ("log loss of the true creator", f.get("lomo_log_loss")),
        ("worst evidence profile's gap (mean confidence - top-1)"
         + (f", {f['worst']}" if isinstance(f.get("worst"), str) else ""), f.get("worst_gap")),
        ("unknown creators' models reported `unknown` (LOCO)", f.get("loco_unknown_rate")),
        ("known creators' models named right (`unknown` counts as wrong)", f.get("lomo_reported_accuracy")),
        ("top-1 with the upstream provider", wp.get("lomo_top1")),
    ]
    vd = f.get("verdicts") if isinstance(f.get("verdicts"), dict) else {}
    if vd.get("accuracy") is not None:
        ft = (f" and {fmt(vd.get('fine_tune_prior'))} third-party fine-tunes" if vd.get("fine_tune_prior") else "")
        rows += [(f"named verdicts right, on a mix with {fmt(vd.get('prior'))} unknown makers{ft} (stated "
                  f"confidence {fmt(vd.get('mean_confidence'))})", vd.get("accuracy")),
                 (confident_label(vd), vd.get("confident_accuracy"))]
    q = f.get("questionnaire") if isinstance(f.get("questionnaire"), dict) else {}
    forms = {k: v for k, v in q.items() if isinstance(v, dict)}
    for name, v in sorted(forms.items(), key=lambda kv: num(kv[1].get("n", kv[1].get("lomo_models"))) or 0):
        if isinstance(v, dict) and v.get("lomo_top1") is not None:
            rows.append((f"top-1 from a pasted questionnaire of {name} ({v.get('lomo_models')} models; "
                         "`eval --questionnaire`)", v["lomo_top1"]))
    lines = table(("figure (leave-one-model-out unless noted)", "value"), (r for r in rows if r[1] is not None))
    lines.append("")
    lines.append(f"Generated by `{GEN_COMMAND} --readme README.md` from `{EVAL_COMMAND}`; "
                 "all figures: [docs/accuracy.md](docs/accuracy.md).")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- sections

def _section(title: str, intro: str | None, lines: list[str]) -> list[str]:
    if not lines:
        return []
    out = ["", f"## {title}", ""]
    if intro:
        out += [intro, ""]
    return out + lines


def sec_sampling(f: dict) -> list[str]:
    rows = []
    iv = f.get("interval95")
    if isinstance(iv, dict):
        for k, v in sorted(iv.items()):
            rows.append((f"interval95.{k}", rng(v) or fmt(v)))
    ds = f.get("deal_spread")
    if isinstance(ds, dict):
        for k, v in sorted(ds.items()):
            rows.append((f"deal_spread.{k}", rng(v) or fmt(v)))
    return _section("Sampling error", "`interval95`: bootstrap intervals over models (`lomo_ece_if_calibrated`: "
                    "median and 95th percentile of the ECE a perfectly calibrated classifier would show). "
                    "`deal_spread`: min-max, mean, over random deals of the calibrator's folds.",
                    table(("figure", "value"), rows))


def sec_profiles(f: dict) -> list[str]:
    p = f.get("profiles")
    if not isinstance(p, dict):
        return []
    worst = f.get("worst")
    rows = [((f"**{name}** (worst)" if name == worst else name), get(v, "models"), get(v, "top1"),
             get(v, "mean_confidence"), get(v, "ece"), get(v, "gap"), get(v, "log_loss"))
            for name, v in p.items() if isinstance(v, dict)]
    return _section("Evidence profiles",
                    "LOMO predictions made from the evidence a real run may have (all probes, a random half, "
                    "one source only). Gap: mean confidence minus top-1 (positive: over-confident).",
                    table(("profile", "models", "top-1", "mean confidence", "ECE", "gap", "log loss"), rows))


def sec_dict(title: str, intro: str | None, d: Any) -> list[str]:
    return _section(title, intro, kv_table(d)) if isinstance(d, dict) else []


def sec_questionnaire(f: dict) -> list[str]:
    """``questionnaire``: {name: {lomo_models, questions_answered_mean, lomo_top1, ...}} (from
    ``provenance eval --questionnaire 5,10,20 --json``); a table, one row a form length."""
    q = f.get("questionnaire")
    if not isinstance(q, dict) or not q:
        return []
    if not all(isinstance(v, dict) for v in q.values()):
        return sec_dict("Questionnaire", None, q)
    rows = [(name, v.get("lomo_models"), v.get("questions_answered_mean"), v.get("lomo_top1"), v.get("lomo_top3"),
             v.get("lomo_ece"), rng(v.get("lomo_ece_over_10_deals_min_mean_max")),
             rng(v.get("ece_if_perfectly_calibrated_median_p95")), v.get("loco_unknown_rate"))
            for name, v in sorted(q.items(), key=lambda kv: num(kv[1].get("n", kv[1].get("lomo_models"))) or 0)]
    intro = ("Leave-one-model-out with only the questionnaire's questions (`provenance eval --corpus "
             "../shared/reference --questionnaire 5,10,20`): no API evidence, the questions ranked without each "
             "held-out model's fold. A corpus model is scored on the questions among the N that it had answered; "
             "models that answered none are left out, so the rows are not over the same models as the headline.")
    return _section("Questionnaire", intro, table(
        ("form", "LOMO models", "questions answered (mean)", "top-1", "top-3", "ECE", "ECE over 10 deals",
         "ECE if perfectly calibrated (median, p95)", "LOCO unknown"), rows))


def sec_sweep(f: dict) -> list[str]:
    sw = f.get("unknown_threshold_sweep")
    if not isinstance(sw, list):
        return []
    rows = [(get(r, "threshold"), get(r, "lomo_reported_accuracy"), get(r, "lomo_unknown_rate"),
             get(r, "loco_unknown_rate")) for r in sw if isinstance(r, dict)]
    out = _section("Unknown threshold sweep", "`unknown` when P(unknown) >= threshold (or the stated confidence is "
                   "under the name threshold).",
                   table(("threshold", "LOMO reported accuracy", "LOMO unknown", "LOCO unknown"), rows))
    nw = f.get("name_threshold_sweep")
    if isinstance(nw, list):
        rows = [(get(r, "threshold"), get(r, "lomo_reported_accuracy"), get(r, "lomo_named_wrong"),
                 get(r, "loco_unknown_rate")) for r in nw if isinstance(r, dict)]
        out += _section("Name threshold sweep", "`unknown` when the stated confidence (the verdict map "
                        "cross-fitted) is under the threshold (or P(unknown) >= 0.5); shipped: 0.35.",
                        table(("threshold", "LOMO reported accuracy", "LOMO named wrong", "LOCO unknown"), rows))
    return out


def sec_reach(f: dict) -> list[str]:
    r = f.get("reach")
    if not isinstance(r, dict):
        return []
    lines = kv_table({k: v for k, v in r.items() if k != "per_channel"})
    pc = r.get("per_channel")
    if isinstance(pc, dict):
        t = table(("channel", "models it scores", "share it ranks first"),
                  ((ch, get(v, "models"), get(v, "first")) for ch, v in pc.items()))
        if t:
            lines += ["", "Per channel:", ""] + t
    return _section("Evidence reach", "Where the LOMO misses sit: models with no other model of their maker in "
                    "any source they answered, and how often any single channel ranks the true creator first.",
                    lines)


def sec_per_source(f: dict) -> list[str]:
    ps = f.get("per_source")
    if not isinstance(ps, dict):
        return []
    rows = [(s, get(v, "models"), get(v, "top1"), get(v, "top3"), get(v, "loco_unknown_rate"))
            for s, v in ps.items() if isinstance(v, dict)]
    return _section("Per source", "LOMO, using only that corpus source's probes.",
                    table(("source", "models", "top-1", "top-3", "LOCO unknown"), rows))


def sec_per_creator(f: dict) -> list[str]:
    pc = f.get("per_creator")
    if not isinstance(pc, dict):
        return []
    rows = [(c, get(v, "lomo_models"), get(v, "recall"), get(v, "loco_models"), get(v, "loco_unknown"))
            for c, v in sorted(pc.items()) if isinstance(v, dict)]
    return _section("Per creator", "Recall: LOMO top-1 over the creator's models; LOCO unknown: share of its "
                    "models reported `unknown` once the creator is removed from training.",
                    table(("creator", "LOMO models", "recall", "LOCO models", "LOCO unknown"), rows))


def sec_confusion(f: dict) -> list[str]:
    conf = f.get("confusion")
    if not isinstance(conf, dict):
        return []
    rows = []
    for c in sorted(conf):
        v = conf[c]
        if not isinstance(v, dict):
            continue
        cells = sorted(((str(k), n) for k, n in v.items() if num(n) is not None), key=lambda kv: (-kv[1], kv[0]))
        rows.append((c, ", ".join(f"{k} {n}" for k, n in cells)))
    return _section("Confusion (LOMO)", "True creator, then what it was reported as (counts).",
                    table(("true creator", "reported as"), rows))


def sec_plots(f: dict, out_dir: Path | None) -> list[str]:
    plots = f.get("plots")
    if not isinstance(plots, list):
        return []
    lines = []
    for p in plots:
        if not isinstance(p, str) or not p.strip():
            continue
        target = p
        # a path that exists from here is rewritten relative to the page; otherwise kept as given
        if out_dir is not None and not os.path.isabs(p) and Path(p).exists():
            target = os.path.relpath(Path(p).resolve(), out_dir.resolve())
        target = target.replace(os.sep, "/")
        alt = Path(p).stem.replace("[", "").replace("]", "")
        lines += [f"![{alt}](<{target}>)", ""]
    return _section("Plots", None, lines[:-1] if lines else [])


def render(f: dict, out_dir: Path | None = None) -> str:
    lines = ["# Accuracy", "",
             "<!-- Generated by scripts/gen_accuracy_doc.py: do not edit by hand. -->",
             f"This page is generated: `{EVAL_COMMAND}` then `{GEN_COMMAND}`. "
             "LOMO: leave-one-model-out (each model scored by a classifier trained without it and its aliases); "
             "LOCO: leave-one-creator-out. How they are measured: [classifier.md](classifier.md)."]
    settings = [(k, f[k]) for k in _SETTINGS if k in f]
    if settings:
        lines += ["", "Run settings: " + "; ".join(f"`{k}` {fmt(v)}" for k, v in settings) + "."]
    hl = table(("figure", "value"), headline_rows(f))
    lines += _section("Headline", None, hl)
    lines += sec_profiles(f)
    lines += sec_dict("Verdicts as stated",
                      "What the verdict line says, on a mix of endpoints of which `prior` are by makers the "
                      "classifier does not know (leave-one-creator-out rows) and `fine_tune_prior` are third "
                      "parties' fine-tunes (the corpus's derivatives), the rest known makers' new models "
                      "(leave-one-model-out rows): the share given a named creator, how often that creator is "
                      "right, the confidence stated (the verdict map cross-fitted over five folds of models; "
                      "`before_map`: without it), and the verdicts stated at 0.9 or more.", f.get("verdicts"))
    lines += sec_dict("With the upstream provider",
                      "The same evaluation with the provider a router names (metadata an anonymous endpoint "
                      "does not give).", f.get("with_provider"))
    lines += sec_dict("Models with many answers", None, f.get("rich"))
    lines += sec_sampling(f)
    lines += sec_sweep(f)
    lines += sec_dict("Beyond the greeting", "Figures without the models whose only answer is to \"hi\".",
                      f.get("beyond_greeting"))
    lines += sec_dict("Model family", "Creator and family both right; ECE of the family confidence.",
                      f.get("family"))
    lines += sec_reach(f)
    lines += sec_per_source(f)
    lines += sec_per_creator(f)
    lines += sec_confusion(f)
    lines += sec_dict("Derivatives", "Third parties' fine-tunes of a known base model, scored by the model this "
                      "run ships (the verdict map was fitted on these same fine-tunes: its confidences are "
                      "in-sample here).", f.get("derivatives"))
    lines += sec_dict("Verify", None, f.get("verify"))
    lines += sec_dict("Claim checks (verify)", "False alarms on genuine unseen models and detection of impostor "
                      "claims, from the leave-one-model-out predictions (behaviour only: the corpus holds no "
                      "token counts).", f.get("claims"))
    lines += sec_questionnaire(f)
    lines += sec_plots(f, out_dir)
    other = {k: v for k, v in f.items() if k not in _KNOWN}
    lines += sec_dict("Other figures", "Keys this script has no dedicated section for.", other)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- CLI

def load(src: str | None) -> dict:
    try:
        text = sys.stdin.read() if src in (None, "-") else Path(src).read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"{src}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise InputError(f"{src}: not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{src or 'stdin'}: not JSON ({e.msg} at line {e.lineno})") from None
    # accept a whole manifest.json too: its figures are under "figures"
    if isinstance(data, dict) and isinstance(data.get("figures"), dict) and "lomo_top1" not in data:
        data = data["figures"]
    if not isinstance(data, dict):
        raise InputError(f"{src or 'stdin'}: expected a JSON object (the output of provenance eval --json)")
    return data


def questionnaire_forms(data: dict) -> dict:
    """``provenance eval --questionnaire 5,10,20 --json`` (a list, one entry a form length) as the
    page's questionnaire table: {"N questions": {lomo_models, questions_answered_mean, ...}}."""
    q = data.get("questionnaire")
    if not isinstance(q, list):
        raise InputError("the questionnaire file is not the output of provenance eval --questionnaire N --json")
    out = {}
    for v in q:
        if not isinstance(v, dict) or not isinstance(v.get("n"), int):
            raise InputError("the questionnaire file has an entry without its form length n")
        ece_spread = (v.get("deal_spread") or {}).get("lomo_ece")
        out[f"{v['n']} questions"] = {
            "n": v["n"], "lomo_models": v.get("lomo_models"), "questions_answered_mean": v.get("mean_answered"),
            "lomo_top1": v.get("lomo_top1"), "lomo_top3": v.get("lomo_top3"), "lomo_ece": v.get("lomo_ece"),
            "lomo_ece_over_10_deals_min_mean_max": ece_spread,
            "ece_if_perfectly_calibrated_median_p95": (v.get("interval95") or {}).get("lomo_ece_if_calibrated"),
            "loco_unknown_rate": v.get("loco_unknown_rate")}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Example: provenance eval --corpus ../shared/reference --json | "
                                        "python scripts/gen_accuracy_doc.py",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", nargs="?", default="-", help="eval JSON file (or a manifest.json); '-' or none: stdin")
    ap.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT, help="page to write (default: docs/accuracy.md)")
    ap.add_argument("--stdout", action="store_true", help="print the page instead of writing it")
    ap.add_argument("--readme-table", action="store_true", help="print only the short headline table for README.md")
    ap.add_argument("--questionnaire", default=None, metavar="FILE",
                    help="also lay out `provenance eval --corpus ... --questionnaire 5,10,20 --json` from FILE")
    ap.add_argument("--readme", type=Path, default=None, metavar="README",
                    help="also replace the table between README's generated markers (" + README_BEGIN + ")")
    a = ap.parse_args(argv)
    try:
        figs = load(a.input)
        if a.questionnaire:
            figs["questionnaire"] = questionnaire_forms(load(a.questionnaire))
    except InputError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    if a.readme_table:
        sys.stdout.write(readme_table(figs))
        return 0
    if a.readme is not None:
        try:
            text = a.readme.read_text(encoding="utf-8")
        except OSError as e:
            sys.stderr.write(f"error: {a.readme}: cannot read ({e.strerror or e})\n")
            return 2
        start = text.find(README_BEGIN)
        end = text.find(README_END, start) if start >= 0 else -1
        if start < 0 or end < start:
            sys.stderr.write(f"error: {a.readme}: no generated block ({README_BEGIN} ... {README_END})\n")
            return 2
        new = text[:start + len(README_BEGIN)] + "\n" + readme_table(figs) + text[end:]
        tmp = a.readme.with_name(a.readme.name + ".tmp")
        tmp.write_text(new, encoding="utf-8")
        os.replace(tmp, a.readme)
        sys.stderr.write(f"wrote the table in {a.readme}\n")
    if a.stdout:
        sys.stdout.write(render(figs, a.out.parent))
        return 0
    page = render(figs, a.out.parent)
    try:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = a.out.with_name(a.out.name + ".tmp")
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, a.out)
    except OSError as e:
        sys.stderr.write(f"error: {a.out}: cannot write ({e.strerror or e})\n")
        return 2
    sys.stderr.write(f"wrote {a.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
