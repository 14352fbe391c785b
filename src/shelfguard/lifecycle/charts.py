"""Small accessible charts drawn on the server as inline SVG, each with a table alternative.

The privacy dashboard and the audit report need a few bar and line charts
that work without JavaScript, without fonts or scripts from elsewhere, and
under a Content-Security-Policy that allows no inline styles (colours are SVG
presentation attributes, not `style=`). They are hand-written because no
maintained Python library makes small accessible SVG without a browser or
JavaScript: the plotting libraries either render through a browser engine,
emit scripts and inline styles, or draw text as paths a screen reader cannot
read.

Every chart is an `<svg role="img">` named by its title and described by a
one-line summary, with axis labels; the same numbers are returned as rows
for a `<table>` with a caption, which is what a screen reader (and the JSON
report) uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from django.utils.safestring import SafeString, mark_safe

#: Colour-blind-safe series colours (Okabe-Ito), each readable on white.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 24, 16, 56
INK, GRID = "#1b1b1b", "#b1b4b6"


@dataclass
class Chart:
    """An SVG picture and the table that says the same."""

    ident: str
    title: str
    summary: str
    svg: SafeString
    columns: list[str]
    rows: list[list[str | int | float]]
    legend: list[tuple[str, str]] = field(default_factory=list)


def _nice_max(value: float) -> float:
    """The top of the axis: four steps of 1, 2 or 5 x 10^n, so every tick is a round number."""
    step = 1.0
    while True:
        for m in (1, 2, 5):
            if 4 * m * step >= value:
                return 4 * m * step
        step *= 10


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _frame(ident: str, title: str, summary: str, y_max: float, y_label: str, x_label: str) -> list:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        # Inline in HTML, so no namespace declaration (and no URL in the page).
        (
            f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
            f'aria-labelledby="{ident}-t {ident}-d" class="chart" '
            'font-family="sans-serif" font-size="11">'
        ),
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">{escape(summary)}</desc>',
    ]
    for i in range(5):
        value = y_max * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" fill="{INK}">'
            f"{_number(value)}</text>"
        )
    parts.append(
        f'<text x="12" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" fill="{INK}" '
        f'transform="rotate(-90 12 {TOP + plot_h / 2:.1f})">{escape(y_label)}</text>'
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" '
        f'fill="{INK}">{escape(x_label)}</text>'
    )
    return parts


def _x_labels(labels: Sequence[str], centres: list[float]) -> list[str]:
    # About eight labels fit (fewer when long), counted back from the newest, which
    # is always shown; the table has all of them.
    longest = max((len(label) for label in labels), default=1)
    fits = max(2, min(10, int((WIDTH - LEFT - RIGHT) / (longest * 7 + 12))))
    every = max(1, -(-len(labels) // fits))
    y = HEIGHT - BOTTOM + 16
    last = len(labels) - 1
    return [
        f'<text x="{x:.1f}" y="{y}" text-anchor="middle" fill="{INK}">{escape(label)}</text>'
        for i, (label, x) in enumerate(zip(labels, centres, strict=True))
        if (last - i) % every == 0
    ]


def stacked_bars(
    ident: str,
    *,
    title: str,
    summary: str,
    labels: Sequence[str],
    series: dict[str, Sequence[int]],
    y_label: str,
    x_label: str,
    label_column: str,
    total_column: str,
) -> Chart:
    """Bars per label, stacked by series (one series: plain bars)."""
    names = list(series)
    totals = [sum(series[n][i] for n in names) for i in range(len(labels))]
    y_max = _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(labels))
    bar = max(1.0, slot * 0.7)
    parts = _frame(ident, title, summary, y_max, y_label, x_label)
    centres = []
    for i in range(len(labels)):
        x = LEFT + slot * i + (slot - bar) / 2
        centres.append(x + bar / 2)
        base = TOP + plot_h
        for k, name in enumerate(names):
            value = series[name][i]
            if not value:
                continue
            h = plot_h * value / y_max
            base -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[k % len(PALETTE)]}"/>'
            )
    parts.extend(_x_labels(labels, centres))
    parts.append("</svg>")
    legend = [(name, PALETTE[k % len(PALETTE)]) for k, name in enumerate(names)]
    columns = [label_column, *names] + ([total_column] if len(names) > 1 else [])
    rows: list[list[str | int | float]] = []
    for i, label in enumerate(labels):
        row: list[str | int | float] = [label, *(series[n][i] for n in names)]
        if len(names) > 1:
            row.append(totals[i])
        rows.append(row)
    return Chart(ident, title, summary, mark_safe("".join(parts)), columns, rows, legend)


def line(
    ident: str,
    *,
    title: str,
    summary: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    y_label: str,
    x_label: str,
    label_column: str,
    value_column: str,
    threshold: float | None = None,
    threshold_label: str = "",
) -> Chart:
    """One line over the labels; `None` is a gap. An optional dashed threshold line."""
    known = [v for v in values if v is not None]
    y_max = _nice_max(max([*known, threshold or 0], default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(labels) - 1) if len(labels) > 1 else 0
    centres = [
        LEFT + step * i if len(labels) > 1 else LEFT + plot_w / 2 for i in range(len(labels))
    ]
    parts = _frame(ident, title, summary, y_max, y_label, x_label)
    if threshold is not None:
        y = TOP + plot_h - plot_h * threshold / y_max
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            f'stroke="{PALETTE[1]}" stroke-width="2" stroke-dasharray="6 4"/>'
            f'<text x="{WIDTH - RIGHT}" y="{y - 4:.1f}" text-anchor="end" fill="{INK}">'
            f"{escape(threshold_label)}</text>"
        )
    runs: list[list[str]] = [[]]
    for x, value in zip(centres, values, strict=True):
        if value is None:
            runs.append([])
            continue
        y = TOP + plot_h - plot_h * value / y_max
        runs[-1].append(f"{x:.1f},{y:.1f}")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{PALETTE[0]}"/>')
    for run in runs:
        if len(run) > 1:
            parts.append(
                f'<polyline points="{" ".join(run)}" fill="none" '
                f'stroke="{PALETTE[0]}" stroke-width="2"/>'
            )
    parts.extend(_x_labels(labels, centres))
    parts.append("</svg>")
    rows: list[list[str | int | float]] = [
        [label, "—" if value is None else value]
        for label, value in zip(labels, values, strict=True)
    ]
    return Chart(
        ident, title, summary, mark_safe("".join(parts)), [label_column, value_column], rows
    )
