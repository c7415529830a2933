"""Requests per week as a tiny inline SVG: no chart library, nothing to fetch."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 120, 28, 2


def sparkline(counts: Sequence[int], weeks: Sequence[str] = (), label: str = "requests per week") -> Markup:
    """An SVG polyline of ``counts`` (oldest first), with one hover title per week."""
    n = len(counts)
    if n == 0:
        return Markup("")
    top = max(max(counts), 1)
    step = (WIDTH - 2 * PAD) / max(n - 1, 1)
    points = [(PAD + i * step, HEIGHT - PAD - (c / top) * (HEIGHT - 2 * PAD)) for i, c in enumerate(counts)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    area = f"{PAD:.1f},{HEIGHT - PAD:.1f} {line} {points[-1][0]:.1f},{HEIGHT - PAD:.1f}"
    total = sum(counts)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{2.2 if c else 0}"><title>'
        f'{escape(weeks[i]) + ": " if i < len(weeks) else ""}{c}</title></circle>'
        for i, ((x, y), c) in enumerate(zip(points, counts))
    )
    return Markup(
        f'<svg class="spark" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}: {total} in {n} weeks">'
        f'<polygon class="spark-area" points="{area}"/><polyline class="spark-line" points="{line}"/>{dots}</svg>'
    )
