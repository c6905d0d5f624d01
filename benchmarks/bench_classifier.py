"""Benchmark: load the shipped classifier and classify one transcript (targets: <300 ms, <100 ms).

    python benchmarks/bench_classifier.py [--model models/default]

Uses a synthetic transcript (one plausible answer per behavioural probe), so it
needs no corpus. Prints the median of several runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from provenance.classifier.model import TrainedClassifier  # noqa: E402
from provenance.probes import load_probeset  # noqa: E402
from provenance.transcript import Transcript  # noqa: E402

ANSWER = ("Certainly! Here's an overview:\n\n## Key points\n\n- **First**, consider the context.\n"
          "- **Second**, weigh the trade-offs.\n\nI hope this helps! Let me know if you have questions. ") * 6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(ROOT / "models" / "default"))
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    ps = load_probeset(ROOT / "probes")
    loads, runs = [], []
    for _ in range(args.runs):
        t = time.perf_counter()
        clf = TrainedClassifier.load(args.model, ps)
        loads.append((time.perf_counter() - t) * 1000)
    texts = {p.id: ("I am ChatGPT, a model trained by OpenAI." if p.family == "identity" else ANSWER)
             for p in ps.probes if p.behavioural}
    tr = Transcript.from_texts(texts, {p.id: p.family for p in ps.probes})
    for _ in range(args.runs):
        t = time.perf_counter()
        clf.classify(tr)
        runs.append((time.perf_counter() - t) * 1000)
    print(f"load_ms median {statistics.median(loads):.1f} (target < 300)")
    print(f"classify_ms median {statistics.median(runs):.1f} over {len(texts)} answers (target < 100)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
