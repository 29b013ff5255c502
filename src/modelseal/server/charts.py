"""Inline SVG charts for the dashboard: drawn on the server, no JavaScript build."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    path: str
    points: tuple[tuple[float, float, str, int], ...]
    """(x, y, day, value) of each point, for its tooltip."""
    ymax: int
    first: str
    last: str


def line_chart(
    series: list[tuple[str, int]], width: int = 640, height: int = 140, pad: int = 24
) -> Chart | None:
    """Open findings per day as a polyline over the days that had uploads."""
    if not series:
        return None
    ymax = max(1, max(v for _, v in series))
    step = (width - 2 * pad) / max(1, len(series) - 1)
    points = tuple(
        (round(pad + i * step, 1), round(height - pad - (v / ymax) * (height - 2 * pad), 1), day, v)
        for i, (day, v) in enumerate(series)
    )
    path = " ".join(f"{'M' if i == 0 else 'L'}{x},{y}" for i, (x, y, _, _) in enumerate(points))
    return Chart(width, height, path, points, ymax, series[0][0], series[-1][0])
