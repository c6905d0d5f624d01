"""How to install what a command lacks, in words that work where this copy is installed
(standard library only; the CLI's extras check and the entrants reader use it)."""

from __future__ import annotations

import os
from pathlib import Path


def checkout_root() -> Path | None:
    """The source checkout this package is installed from (editable), or None (a wheel)."""
    root = Path(__file__).resolve().parents[2]      # src/provenance/installing.py -> the checkout
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return root if 'name = "provenance"' in text else None


def install_hint(extra: str, dists: list[str] | tuple[str, ...]) -> str:
    """How to install an extra: in a checkout, ``pip install -e '.[extra]'`` (its own pyproject);
    otherwise the packages themselves (the name 'provenance' on the package index is another
    project's, so 'provenance[extra]' would fetch the wrong thing)."""
    root = checkout_root()
    if root is not None:
        where = "." if os.path.realpath(os.getcwd()) == str(root) else str(root)
        return f"pip install -e '{where}[{extra}]'"
    return "pip install " + " ".join(dists)
