"""Pictures of the evaluation, as standalone SVG files, drawn by matplotlib (the ``train`` extra).

``reliability_svg``: one reliability curve per evidence profile (mean confidence against
accuracy in confidence bins; the diagonal is perfect calibration). ``confusion_svg``: the
leave-one-model-out confusion matrix (true creator by row, reported creator by column, shares
shaded, counts written). Both are written by ``provenance eval --plots DIR``.

matplotlib is imported inside the functions (only ``eval --plots`` pays for it) with its
non-interactive Agg backend; the SVG carries no date and a fixed id salt, so the same figures
give the same file.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf", "#393b79", "#637939")


def bins(points: Iterable[tuple[float, bool]], n: int = 10) -> list[tuple[float, float, int]]:
    """(mean confidence, accuracy, count) per non-empty confidence bin."""
    acc: list[list[float]] = [[0.0, 0.0, 0] for _ in range(n)]
    for c, ok in points:
        k = min(n - 1, max(0, int(c * n)))
        acc[k][0] += c
        acc[k][1] += float(ok)
        acc[k][2] += 1
    return [(s / m, h / m, int(m)) for s, h, m in acc if m]


def _pyplot() -> Any:
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _svg(fig: Any) -> str:
    """The figure as SVG text (the XML prolog dropped: the file starts at ``<svg``)."""
    import io

    import matplotlib
    plt = _pyplot()
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "provenance", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def reliability_svg(curves: Mapping[str, Sequence[tuple[float, bool]]], title: str = "Reliability (LOMO)") -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    ax.plot([0, 1], [0, 1], linestyle="--", color="#aaaaaa", linewidth=1)
    for i, (name, pts) in enumerate(curves.items()):
        b = bins(pts)
        if not b:
            continue
        col = PALETTE[i % len(PALETTE)]
        ax.plot([c for c, _, _ in b], [a for _, a, _ in b], color=col, linewidth=2, label=f"{name} ({len(pts)})")
        ax.scatter([c for c, _, _ in b], [a for _, a, _ in b], s=[(2 + min(6, m ** 0.5)) ** 2 for _, _, m in b],
                   color=col, alpha=0.7)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence of the top creator", ylabel="share right", title=title)
    ax.set_aspect("equal")
    if curves:
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False, fontsize=9)
    return _svg(fig)


def confusion_svg(confusion: Mapping[str, Mapping[str, int]], title: str = "Confusion (LOMO)") -> str:
    import numpy as np
    plt = _pyplot()
    rows = sorted(confusion)
    cols = sorted({c for v in confusion.values() for c in v} | set(rows), key=lambda c: (c == "unknown", c))
    counts = np.array([[int(confusion[r].get(c, 0)) for c in cols] for r in rows], dtype=float).reshape(len(rows), len(cols))
    share = counts / np.maximum(1.0, counts.sum(axis=1, keepdims=True))
    cell = 0.28
    fig, ax = plt.subplots(figsize=(max(3.0, 1.6 + cell * len(cols)), max(2.0, 1.6 + cell * len(rows))))
    ax.imshow(share, cmap="Greens", vmin=0.0, vmax=1.0, aspect="equal")
    for i in range(len(rows)):
        for j in range(len(cols)):
            if counts[i, j]:
                ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha="left", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.xaxis.tick_top()
    ax.set_title(f"{title}: true creator (rows) reported as (columns)", fontsize=10)
    return _svg(fig)
