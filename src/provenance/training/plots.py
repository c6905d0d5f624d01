"""Pictures of the evaluation, as standalone SVG files (standard library only).

``reliability_svg``: one reliability curve per evidence profile (mean confidence against
accuracy in confidence bins; the diagonal is perfect calibration). ``confusion_svg``: the
leave-one-model-out confusion matrix (true creator by row, reported creator by column, counts
shaded). Both are written by ``provenance eval --plots DIR``.
"""

from __future__ import annotations

from html import escape
from typing import Iterable, Mapping, Sequence

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


def reliability_svg(curves: Mapping[str, Sequence[tuple[float, bool]]], title: str = "Reliability (LOMO)",
                    size: int = 520) -> str:
    pad, w = 60, size - 90
    x = lambda v: pad + v * w            # noqa: E731
    y = lambda v: pad + (1 - v) * w      # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size + 230}" height="{size}" '
           f'font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{pad}" y="24" font-size="15">{escape(title)}</text>',
           f'<rect x="{pad}" y="{pad}" width="{w}" height="{w}" fill="none" stroke="#444"/>',
           f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#aaa" stroke-dasharray="4 4"/>']
    for t in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        out.append(f'<text x="{x(t)}" y="{y(0) + 16}" text-anchor="middle">{t:.1f}</text>')
        out.append(f'<text x="{pad - 8}" y="{y(t) + 4}" text-anchor="end">{t:.1f}</text>')
    out.append(f'<text x="{x(0.5)}" y="{y(0) + 36}" text-anchor="middle">confidence of the top creator</text>')
    out.append(f'<text x="16" y="{y(0.5)}" transform="rotate(-90 16 {y(0.5)})" text-anchor="middle">'
               'share right</text>')
    for i, (name, pts) in enumerate(curves.items()):
        col = PALETTE[i % len(PALETTE)]
        b = bins(pts)
        if not b:
            continue
        path = " ".join(f"{'M' if j == 0 else 'L'}{x(c):.1f},{y(a):.1f}" for j, (c, a, _) in enumerate(b))
        out.append(f'<path d="{path}" fill="none" stroke="{col}" stroke-width="2"/>')
        for c, a, m in b:
            r = 2 + min(6, m ** 0.5)
            out.append(f'<circle cx="{x(c):.1f}" cy="{y(a):.1f}" r="{r:.1f}" fill="{col}" fill-opacity="0.7"/>')
        ly = pad + 16 * i
        out.append(f'<line x1="{size - 20}" y1="{ly}" x2="{size}" y2="{ly}" stroke="{col}" stroke-width="3"/>')
        out.append(f'<text x="{size + 6}" y="{ly + 4}">{escape(name)} ({len(pts)})</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def confusion_svg(confusion: Mapping[str, Mapping[str, int]], title: str = "Confusion (LOMO)") -> str:
    rows = sorted(confusion)
    cols = sorted({c for v in confusion.values() for c in v} | set(rows), key=lambda c: (c == "unknown", c))
    cell, left, top = 26, 130, 150
    width, height = left + cell * len(cols) + 20, top + cell * len(rows) + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="20" font-size="15">{escape(title)}: true creator (rows) reported as (columns)</text>']
    for j, c in enumerate(cols):
        cx = left + j * cell + cell / 2
        out.append(f'<text x="{cx}" y="{top - 6}" transform="rotate(-60 {cx} {top - 6})">{escape(c)}</text>')
    for i, r in enumerate(rows):
        total = max(1, sum(confusion[r].values()))
        ty = top + i * cell
        out.append(f'<text x="{left - 6}" y="{ty + cell / 2 + 4}" text-anchor="end">{escape(r)}</text>')
        for j, c in enumerate(cols):
            n = int(confusion[r].get(c, 0))
            share = n / total
            hue = "46,125,50" if c == r else ("120,120,120" if c == "unknown" else "198,40,40")
            out.append(f'<rect x="{left + j * cell}" y="{ty}" width="{cell - 1}" height="{cell - 1}" '
                       f'fill="rgb({hue})" fill-opacity="{0.08 + 0.92 * share:.2f}"/>')
            if n:
                fill = "white" if share > 0.5 else "black"
                out.append(f'<text x="{left + j * cell + cell / 2}" y="{ty + cell / 2 + 4}" text-anchor="middle" '
                           f'fill="{fill}">{n}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
