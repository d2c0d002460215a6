"""The SVG line chart of adsvc.pages.charts, without a server: one point per day, aligned previous period, round
axis ticks, gaps, the empty and single-day cases, locale formatting, accessibility and escaping."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from decimal import Decimal

import pytest

from adsvc.pages.charts import (
    BOTTOM,
    HEIGHT,
    ValueFormat,
    daily_comparison,
    line_chart_svg,
    nice_ticks,
    x_label_indexes,
)
from adsvc.pages.i18n import Formatter

SVG = "{http://www.w3.org/2000/svg}"
EN, PT = Formatter("en"), Formatter("pt_BR")
FIRST = date(2026, 12, 1)


def identity(text: str) -> str:
    return text


def comparison(current, previous=None, *, kind="money", currency="BRL", first=FIRST):
    days = [first + timedelta(days=i) for i in range(len(current))]
    previous_days = [day - timedelta(days=len(current)) for day in days]
    return daily_comparison("spend", ValueFormat(kind, currency), days=days, current=current,
                            previous_days=previous_days,
                            previous=previous if previous is not None else [None] * len(current))  # fmt: skip


def draw(chart, fmt=EN, title="Spend per day", labels=("This period", "Previous period")):
    markup = line_chart_svg(chart, fmt, identity, chart_id="c1", title=title, labels=labels)
    return str(markup), ET.fromstring(str(markup))  # noqa: S314 - our own output


def points(root, which):
    return [c for c in root.iter(SVG + "circle") if f"point-{which}" in c.get("class", "").split()]


def values(numbers):
    return [None if n is None else Decimal(n) for n in numbers]


def test_one_point_per_day_for_each_period_aligned_by_day_index():
    chart = comparison(values([10, 20, 30, 40, 50, 60, 70]), values([7, 6, 5, 4, 3, 2, 1]))
    _, root = draw(chart)
    current, previous = points(root, "current"), points(root, "previous")
    assert len(current) == len(previous) == 7
    assert [c.get("cx") for c in current] == [p.get("cx") for p in previous]
    assert [Decimal(c.get("data-value")) for c in current] == values([10, 20, 30, 40, 50, 60, 70])
    xs = [float(c.get("cx")) for c in current]
    assert xs == sorted(xs) and len(set(xs)) == 7
    # higher values are higher up (smaller y)
    ys = [float(c.get("cy")) for c in current]
    assert ys == sorted(ys, reverse=True)
    assert root.get("data-days") == "7"


def test_a_single_day_is_one_centred_point_per_series_with_its_label():
    chart = comparison(values([12]), values([8]))
    _, root = draw(chart)
    [current], [previous] = points(root, "current"), points(root, "previous")
    assert current.get("cx") == previous.get("cx")
    assert 100 < float(current.get("cx")) < 600
    labels = [t.text for t in root.iter(SVG + "text") if t.get("class") == "x-label"]
    assert labels == ["Dec 1"]


def test_zeros_are_points_on_the_axis_and_the_scale_still_has_a_top():
    chart = comparison(values([0, 0, 0]), values([0, 0, 0]))
    markup, root = draw(chart)
    assert {float(c.get("cy")) for c in points(root, "current")} == {float(HEIGHT - BOTTOM)}
    assert "No data in either" not in markup
    y_labels = [t.text for t in root.iter(SVG + "text") if t.get("class") == "y-label"]
    assert y_labels == ["R$0.00", "R$1.00"]


def test_no_values_at_all_says_no_data_and_draws_no_points():
    chart = comparison([None] * 5)
    _, root = draw(chart)
    assert points(root, "current") == [] and points(root, "previous") == []
    assert "No data in either period." in root.find(SVG + "desc").text
    assert any(t.text == "No data" for t in root.iter(SVG + "text"))


def test_an_empty_period_renders_without_days():
    chart = comparison([])
    _, root = draw(chart)
    assert root.find(SVG + "desc").text == "No days to show."
    assert points(root, "current") == []


def test_a_day_without_a_value_breaks_the_line():
    chart = comparison(values([5, 6, None, 8, 9]))
    _, root = draw(chart)
    [path] = [p for p in root.iter(SVG + "path") if p.get("class") == "series-current"]
    assert path.get("d").count("M") == 2 and path.get("d").count("L") == 2
    assert len(points(root, "current")) == 4


def test_accessible_svg_without_style_attributes():
    markup, root = draw(comparison(values([1, 2, 3]), values([3, 2, 1])))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find(SVG + "title").get("id") == "c1-title" and root.find(SVG + "title").text == "Spend per day"
    desc = root.find(SVG + "desc").text
    assert "Dec 1, 2026 to Dec 3, 2026" in desc and "highest R$3.00 on Dec 3, 2026" in desc
    assert "Previous period: highest R$3.00 on Nov 28, 2026" in desc
    assert "style=" not in markup and "<script" not in markup
    assert all(el.get("style") is None for el in root.iter())


def test_text_is_escaped():
    markup, root = draw(comparison(values([1])), title='<script>alert("x")</script> & co',
                        labels=("<b>now</b>", "then"))  # fmt: skip
    assert "<script>" not in markup and "<b>" not in markup
    assert root.find(SVG + "title").text == '<script>alert("x")</script> & co'
    tips = [c.find(SVG + "title").text for c in points(root, "current")]
    assert tips == ["<b>now</b>, Dec 1, 2026: R$1.00"]


def test_labels_follow_the_locale():
    _, root = draw(comparison(values([1234, 10]), values([0, 0])), fmt=PT)
    texts = [t.text for t in root.iter(SVG + "text")]
    assert "R$\xa01.500,00" in texts  # the top tick, in Brazilian notation
    assert "1 de dez." in texts
    assert "R$\xa01.234,00" in root.find(SVG + "desc").text


def test_counts_and_ratios_get_the_places_their_ticks_need():
    _, root = draw(comparison(values(["0.3", "0.1"]), kind="ratio"))
    y_labels = [t.text for t in root.iter(SVG + "text") if t.get("class") == "y-label"]
    assert y_labels == ["0.0", "0.1", "0.2", "0.3"]
    _, root = draw(comparison(values([40, 10]), kind="count"))
    y_labels = [t.text for t in root.iter(SVG + "text") if t.get("class") == "y-label"]
    assert y_labels == ["0", "10", "20", "30", "40"]


@pytest.mark.parametrize("high", ["0.034", "1", "7", "99.99", "123.4", "1000", "9999", "2500000.5"])
def test_ticks_start_at_zero_and_end_on_a_round_top_at_or_above_the_highest_value(high):
    ticks = nice_ticks(Decimal(high))
    assert ticks[0] == 0 and ticks[-1] >= Decimal(high)
    step = ticks[1] - ticks[0]
    assert all(b - a == step for a, b in itertools.pairwise(ticks))
    mantissa = step.scaleb(-step.adjusted())
    assert mantissa in (1, 2, Decimal("2.5"), 5)
    assert 2 <= len(ticks) - 1 <= 5
    assert "E" not in str(ticks[-1])


def test_date_labels_are_spread_and_never_more_than_eight_or_nine():
    assert x_label_indexes(7) == list(range(7))
    assert x_label_indexes(1) == [0]
    assert x_label_indexes(0) == []
    for count in (14, 28, 30, 31, 90):
        chosen = x_label_indexes(count)
        assert chosen[0] == 0 and len(chosen) <= 9 and chosen == sorted(set(chosen)) and chosen[-1] < count


def test_periods_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="same length"):
        daily_comparison("spend", ValueFormat("money", "USD"), days=[FIRST], current=[Decimal(1)],
                         previous_days=[], previous=[])  # fmt: skip
