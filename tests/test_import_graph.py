"""The flow runs one way: every import in src/provenance, read from the source (function-level
imports and TYPE_CHECKING blocks included), goes to the importing module's layer or a lower
one. The layers are the ones docs/architecture.md lists ("Layers"); a module no layer names
fails the test, so a new module is placed on purpose."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from factory import REPO

SRC = REPO / "src" / "provenance"

# lowest first; a module belongs to the entry that names the longest prefix of its dotted name
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # data every layer reads: settings, the transcript, the probe set, and the two registries
    ("base", ("", "errors", "text_safety", "files", "installing", "settings", "transcript", "probes",
              "channels.registry", "endpoints.registry")),
    ("endpoints", ("endpoints",)),
    # getting answers: from endpoints (paced, stored), or pasted from a chat page
    ("probing", ("probing", "questionnaire", "answers")),
    ("deciding", ("channels", "classifier", "claim", "verify", "attribute", "lost")),
    ("report", ("report",)),
    ("training", ("training", "collect")),
    ("run", ("run", "demo", "replay")),
    ("cli", ("cli", "__main__")),
]
TESTING = "testing"      # test servers: may import anything but cli; no product module imports them

# the imports issue 33 found running against the flow (each must stay gone)
AGAINST_THE_FLOW = [
    ("probing.one_target", "attribute"), ("probing.one_target", "verify"), ("probing.one_target", "report"),
    ("probing.one_target", "classifier"), ("probing.scan", "verify"), ("probing.scan", "claim"),
    ("probing.entrants", "claim"), ("probing.store", "report"), ("probing.order", "classifier"),
    ("attribute", "probing"), ("channels.lexical", "training"), ("channels.independent", "questionnaire"),
    ("demo", "testing"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every provenance module ``path`` imports (relative names resolved; ``from X import Y``
    counts as X.Y when Y is a module, else X)."""
    mod = module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name.removeprefix("provenance").lstrip(".") for a in node.names
                       if a.name == "provenance" or a.name.startswith("provenance."))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, *([node.module] if node.module else [])])
            elif node.module == "provenance" or (node.module or "").startswith("provenance."):
                target = node.module.removeprefix("provenance").lstrip(".")
            else:
                continue
            for a in node.names:
                sub = f"{target}.{a.name}" if target else a.name
                is_module = (SRC / sub.replace(".", "/")).with_suffix(".py").is_file() or (SRC / sub.replace(".", "/")).is_dir()
                out.add(sub if is_module else target)
    return out


def layer_of(mod: str) -> int | None:
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (p == "" and mod == "") or (p and (mod == p or mod.startswith(p + "."))):
                if len(p) > best:
                    best, rank = len(p), i
    return rank


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(SRC.rglob("*.py"))}


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in graph() if not m.startswith(TESTING) and layer_of(m) is None]
    assert not unplaced, f"place these modules in a layer (docs/architecture.md and LAYERS): {unplaced}"


def test_imports_follow_the_flow() -> None:
    bad = []
    for mod, targets in graph().items():
        for t in sorted(targets):
            if t.startswith(TESTING):
                if not mod.startswith(TESTING):
                    bad.append(f"{mod} -> {t} (a product module imports a test server)")
                continue
            if mod.startswith(TESTING):
                if layer_of(t) == len(LAYERS) - 1:
                    bad.append(f"{mod} -> {t} (a test server imports the CLI)")
                continue
            lm, lt = layer_of(mod), layer_of(t)
            if lm is not None and lt is not None and lt > lm:
                bad.append(f"{mod} ({LAYERS[lm][0]}) -> {t} ({LAYERS[lt][0]})")
    assert not bad, "imports against the flow:\n" + "\n".join(bad)


@pytest.mark.parametrize("src,dst", AGAINST_THE_FLOW, ids=[f"{a}->{b}" for a, b in AGAINST_THE_FLOW])
def test_the_edges_issue_33_named_are_gone(src: str, dst: str) -> None:
    g = graph()
    assert src in g, f"{src} no longer exists: update the list"
    assert not [t for t in g[src] if t == dst or t.startswith(dst + ".")]


def test_the_graph_reader_sees_function_level_imports(tmp_path: Path) -> None:
    """The reader itself: a function-level relative import and a TYPE_CHECKING one are edges."""
    got = imports_of(SRC / "probing" / "one_target.py")
    assert "endpoints.base" in got           # imported inside send()
    assert "endpoints.http" in imports_of(SRC / "endpoints" / "base.py")     # TYPE_CHECKING
    assert "channels.tokenizer" in imports_of(SRC / "lost.py")               # inside _is_baseline()
