"""The hand-written SVG charts: the picture and its table say the same, and nothing is styled inline."""

from __future__ import annotations

import re

from shelfguard.lifecycle import charts


def _bars(svg: str) -> list[tuple[float, float, str]]:
    return [
        (float(y), float(h), fill)
        for y, h, fill in re.findall(
            r'<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" fill="(#[0-9a-f]{6})"',
            svg,
        )
    ]


def test_stacked_bars_are_proportional_and_the_table_has_every_value():
    chart = charts.stacked_bars(
        "t1",
        title="Reveals <by> channel",
        summary="7 reveals.",
        labels=["06-01", "06-02", "06-03"],
        series={"web": [2, 0, 4], "sip2": [1, 0, 0]},
        y_label="reveals",
        x_label="day",
        label_column="Day",
        total_column="Total",
    )
    svg = str(chart.svg)
    assert 'role="img"' in svg and 'aria-labelledby="t1-t t1-d"' in svg
    assert '<title id="t1-t">Reveals &lt;by&gt; channel</title>' in svg
    assert "style=" not in svg and "<script" not in svg and "http" not in svg
    heights = [h for _y, h, _fill in _bars(svg)]
    # The tallest bar totals 4, so the axis tops at 4 (four steps of 1).
    unit = (charts.HEIGHT - charts.TOP - charts.BOTTOM) / 4
    assert [round(h / unit, 3) for h in heights] == [2, 1, 4]
    assert chart.columns == ["Day", "web", "sip2", "Total"]
    assert chart.rows == [["06-01", 2, 1, 3], ["06-02", 0, 0, 0], ["06-03", 4, 0, 4]]
    assert [name for name, _colour in chart.legend] == ["web", "sip2"]


def test_line_has_gaps_for_unknown_values_and_a_threshold():
    chart = charts.line(
        "t2",
        title="Backup age",
        summary="Flagged after 26 hours.",
        labels=["a", "b", "c", "d"],
        values=[3.0, None, 20.0, 30.0],
        y_label="hours",
        x_label="day",
        label_column="Day",
        value_column="Hours",
        threshold=26,
        threshold_label="26 h",
    )
    svg = str(chart.svg)
    assert svg.count("<circle") == 3
    assert svg.count("<polyline") == 1  # "a" stands alone; "c"-"d" are joined
    assert 'stroke-dasharray="6 4"' in svg and ">26 h<" in svg
    assert chart.rows == [["a", 3.0], ["b", "—"], ["c", 20.0], ["d", 30.0]]
    # Every y-axis tick is a whole number.
    ticks = re.findall(r'text-anchor="end" fill="#1b1b1b">([^<]+)<', svg)
    assert ticks == ["0", "10", "20", "30", "40", "26 h"]
