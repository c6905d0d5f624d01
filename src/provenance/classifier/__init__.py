"""Classifiers: the interface, the trained artifact loader, and a keyword baseline.

``load_classifier`` returns the shipped trained model from ``models/`` when one
is there, else the keyword baseline; either way the report names which it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import Attribution, Candidate, Classifier, Evidence, UNKNOWN  # noqa: F401

DEFAULT_MODEL_NAME = "default"


def default_model_dir() -> Path | None:
    here = Path(__file__).resolve().parent.parent
    for cand in (here.parents[1] / "models" / DEFAULT_MODEL_NAME, here / "_models" / DEFAULT_MODEL_NAME):
        if (cand / "manifest.json").is_file():
            return cand
    return None


def load_classifier(path: Path | str | None = None, probeset: Any = None) -> Classifier:
    """Load a trained artifact (``path`` or the shipped default), checked against ``probeset``.

    Falls back to the keyword baseline only when no path was given and no
    artifact is shipped.
    """
    target = Path(path) if path is not None else default_model_dir()
    if target is None:
        from .keyword import KeywordClassifier
        return KeywordClassifier()
    from .model import TrainedClassifier  # numpy; deferred
    return TrainedClassifier.load(target, probeset=probeset)
