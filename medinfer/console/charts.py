"""Server-rendered SVG line charts (no script, no third-party library): a polyline per series."""

from __future__ import annotations

from markupsafe import Markup, escape

__all__ = ["line_chart"]


def line_chart(values: list[float | None], *, label: str, width: int = 320, height: int = 80,
               threshold: float | None = None, fmt: str = "{:.3f}") -> Markup:
    """An accessible SVG chart of ``values`` (oldest first); ``None`` gaps are skipped."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    title = escape(label)
    if not pts:
        return Markup(f'<svg class="chart" role="img" width="{width}" height="{height}" '
                      f'viewBox="0 0 {width} {height}"><title>{title}: no data yet</title>'
                      f'<text x="8" y="{height // 2}">no data yet</text></svg>')
    top = max([v for _, v in pts] + ([threshold] if threshold is not None else []))
    top = top if top > 0 else 1.0
    n = max(len(values) - 1, 1)
    pad = 4

    def xy(i: int, v: float) -> str:
        x = pad + (width - 2 * pad) * (i / n)
        y = height - pad - (height - 2 * pad) * (v / top)
        return f"{x:.1f},{y:.1f}"

    line = " ".join(xy(i, v) for i, v in pts)
    parts = [f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f"<title>{title}: latest {escape(fmt.format(pts[-1][1]))}</title>"]
    if threshold is not None:
        y = height - pad - (height - 2 * pad) * (threshold / top)
        parts.append(f'<line class="threshold" x1="{pad}" x2="{width - pad}" y1="{y:.1f}" y2="{y:.1f}"/>')
    parts.append(f'<polyline class="series" points="{line}"/>')
    for i, v in pts[-1:]:
        x, y = xy(i, v).split(",")
        parts.append(f'<circle class="last" cx="{x}" cy="{y}" r="2.5"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
