"""Server-rendered SVG charts for the pages: one metric per day of a period against the previous period. No I/O.

The SVG is written here, not by a library: pygal keeps an inline `<script>` (and fetches its tooltips from a CDN)
that the pages' CSP refuses, matplotlib brings about 160 MB of numpy and font machinery for two lines, and a
hand-written chart is a few hundred lines we control: presentation through classes of the pages' stylesheets (no
`style=` attribute, which `style-src 'self'` blocks), `role="img"` with a `<title>` and a `<desc>` that states the
numbers, and every text escaped by markupsafe. The numbers themselves are also given to the template as rows, for
the table under the chart.

Geometry: the x axis has one slot per day of the current period; the previous period (same length, see
adsvc.analytics.engine.previous_period) is aligned by day index, so day 3 of this week sits over day 3 of the week
before. The y axis starts at 0 and ends on a "nice" round number (1, 2, 2.5 or 5 times a power of ten) at or above
the largest value of either series. A day without a value (None) leaves a gap in its line; a day with 0 is a point
on the axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from markupsafe import Markup, escape

from adsvc.pages.i18n import Formatter

Kind = Literal["money", "count", "ratio", "percent"]
Gettext = Callable[[str], str]

WIDTH = 640
HEIGHT = 240
TOP = 14
RIGHT = 14
BOTTOM = 34
MIN_LEFT = 36
CHAR_WIDTH = 6.4  # px per character of an 11 px label: enough room for the widest y label
MAX_X_LABELS = 7
Y_TICKS = 4
_NICE_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))


@dataclass(frozen=True, slots=True)
class ValueFormat:
    """How one metric's values are written: money in a currency, a count, a ratio (ROAS) or a percentage (CTR)."""

    kind: Kind
    currency: str | None = None

    def format(self, fmt: Formatter, value: Decimal | None, places: int | None = None) -> str:
        if self.kind == "money":
            return fmt.money(value, self.currency or "USD")
        if self.kind == "percent":
            return fmt.percent(value, 2 if places is None else places)
        if self.kind == "ratio":
            return fmt.number(value, 2 if places is None else places)
        return fmt.number(value, 0 if places is None else places)


@dataclass(frozen=True, slots=True)
class ChartDay:
    """One slot of the x axis: the day of the current period, the same day index of the previous one, and both
    values (None: no value that day)."""

    index: int
    day: date
    previous_day: date
    current: Decimal | None
    previous: Decimal | None


@dataclass(frozen=True, slots=True)
class DailyComparison:
    """A metric per day of a period and of the period before it, ready to be drawn and tabled."""

    metric: str
    value_format: ValueFormat
    days: tuple[ChartDay, ...]

    @property
    def empty(self) -> bool:
        return all(day.current is None and day.previous is None for day in self.days)

    def values(self, which: Literal["current", "previous"]) -> list[Decimal]:
        return [value for value in (getattr(day, which) for day in self.days) if value is not None]


def daily_comparison(
    metric: str,
    value_format: ValueFormat,
    *,
    days: Sequence[date],
    current: Sequence[Decimal | None],
    previous_days: Sequence[date],
    previous: Sequence[Decimal | None],
) -> DailyComparison:
    """Pairs the two periods by day index; both must have one value per day and the same length."""
    if not (len(days) == len(current) == len(previous_days) == len(previous)):
        raise ValueError("each period needs one value per day, and the periods the same length")
    return DailyComparison(
        metric=metric,
        value_format=value_format,
        days=tuple(
            ChartDay(index=i, day=days[i], previous_day=previous_days[i], current=current[i], previous=previous[i])
            for i in range(len(days))
        ),
    )


@dataclass(frozen=True, slots=True)
class DayText:
    """One day of a chart as the locale writes it: for the points' tooltips and the table under the chart."""

    index: int
    day: str
    previous_day: str
    current: str
    previous: str


def day_texts(chart: DailyComparison, fmt: Formatter) -> list[DayText]:
    """Each day's dates and values written once (formatting is most of a chart's cost)."""
    return [
        DayText(
            index=day.index,
            day=fmt.day(day.day),
            previous_day=fmt.day(day.previous_day),
            current=chart.value_format.format(fmt, day.current),
            previous=chart.value_format.format(fmt, day.previous),
        )
        for day in chart.days
    ]


# ---- scale ---------------------------------------------------------------------------------------------------------


def nice_ticks(high: Decimal, count: int = Y_TICKS) -> list[Decimal]:
    """Tick values from 0 to a round top at or above `high`, about `count` steps (0 and 1 when high is 0)."""
    if count < 1:
        raise ValueError("at least one step")
    if high <= 0:
        return [Decimal(0), Decimal(1)]
    raw = high / count
    magnitude = Decimal(1).scaleb(raw.adjusted())
    step = next(magnitude * nice for nice in _NICE_STEPS if magnitude * nice >= raw)
    steps = math.ceil(high / step)
    # plain notation (50, not 5E+1): the values also end up in attributes and tests
    return [Decimal(f"{(step * i).normalize():f}") for i in range(steps + 1)]


def _tick_places(ticks: Sequence[Decimal]) -> int:
    """Decimal places the y labels need to tell the ticks apart (0 for whole numbers, at most 4)."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else Decimal(1)
    exponent = step.normalize().as_tuple().exponent
    return min(4, max(0, -exponent)) if isinstance(exponent, int) else 0


def x_label_indexes(count: int, most: int = MAX_X_LABELS) -> list[int]:
    """Which day slots get a date label: evenly spaced, the first always, the last when it does not crowd."""
    if count <= 0:
        return []
    step = max(1, math.ceil(count / most))
    chosen = list(range(0, count, step))
    if chosen[-1] != count - 1 and count - 1 - chosen[-1] >= step * 0.75:
        chosen.append(count - 1)
    return chosen


@dataclass(frozen=True, slots=True)
class Point:
    index: int
    x: float
    y: float
    value: Decimal


@dataclass(frozen=True, slots=True)
class Layout:
    left: float
    ticks: tuple[Decimal, ...]
    tick_labels: tuple[str, ...]
    xs: tuple[float, ...]
    current: tuple[Point, ...]
    previous: tuple[Point, ...]

    @property
    def plot_bottom(self) -> float:
        return HEIGHT - BOTTOM

    def y_of(self, value: Decimal) -> float:
        top_value = self.ticks[-1]
        share = float(value / top_value) if top_value else 0.0
        return round(self.plot_bottom - share * (self.plot_bottom - TOP), 1)


def layout(chart: DailyComparison, fmt: Formatter) -> Layout:
    values = chart.values("current") + chart.values("previous")
    ticks = nice_ticks(max(values, default=Decimal(0)))
    places = _tick_places(ticks) if chart.value_format.kind in ("count", "ratio") else None
    labels = tuple(chart.value_format.format(fmt, tick, places) for tick in ticks)
    left = max(MIN_LEFT, 10 + CHAR_WIDTH * max(len(label) for label in labels))
    count = len(chart.days)
    width = WIDTH - RIGHT - left
    if count == 1:
        xs: tuple[float, ...] = (round(left + width / 2, 1),)
    else:
        xs = tuple(round(left + width * i / (count - 1), 1) for i in range(count))
    skeleton = Layout(left=left, ticks=tuple(ticks), tick_labels=labels, xs=xs, current=(), previous=())

    def points(which: Literal["current", "previous"]) -> tuple[Point, ...]:
        found = []
        for day in chart.days:
            value = getattr(day, which)
            if value is not None:
                found.append(Point(day.index, xs[day.index], skeleton.y_of(max(value, Decimal(0))), value))
        return tuple(found)

    return Layout(left=left, ticks=tuple(ticks), tick_labels=labels, xs=xs, current=points("current"),
                  previous=points("previous"))  # fmt: skip


# ---- markup --------------------------------------------------------------------------------------------------------


def _path(points: Sequence[Point]) -> str:
    """A line through consecutive days; a day without a value starts a new segment."""
    parts: list[str] = []
    last_index: int | None = None
    for point in points:
        command = "L" if last_index is not None and point.index == last_index + 1 else "M"
        parts.append(f"{command}{point.x:.1f} {point.y:.1f}")
        last_index = point.index
    return " ".join(parts)


def _extreme(chart: DailyComparison, which: Literal["current", "previous"], highest: bool) -> ChartDay | None:
    days = [day for day in chart.days if getattr(day, which) is not None]
    if not days:
        return None
    pick = max if highest else min
    return pick(days, key=lambda day: (getattr(day, which), -day.index if highest else day.index))


def describe(chart: DailyComparison, fmt: Formatter, _: Gettext, *, title: str, labels: tuple[str, str]) -> str:
    """The `<desc>`: what is drawn, over which days, and its numbers in words (a screen reader's chart)."""
    if not chart.days:
        return _("No days to show.")
    first, last = chart.days[0], chart.days[-1]
    text = _("%(title)s, %(first)s to %(last)s, against the previous period (%(prev_first)s to "
             "%(prev_last)s).") % {"title": title, "first": fmt.day(first.day), "last": fmt.day(last.day),
                                  "prev_first": fmt.day(first.previous_day),
                                  "prev_last": fmt.day(last.previous_day)}  # fmt: skip
    if chart.empty:
        return text + " " + _("No data in either period.")
    parts = [text]
    for which, label in (("current", labels[0]), ("previous", labels[1])):
        high = _extreme(chart, which, highest=True)  # type: ignore[arg-type]
        low = _extreme(chart, which, highest=False)  # type: ignore[arg-type]
        if high is None or low is None:
            parts.append(_("%(series)s: no data.") % {"series": label})
            continue
        high_day = high.day if which == "current" else high.previous_day
        low_day = low.day if which == "current" else low.previous_day
        parts.append(
            _("%(series)s: highest %(high)s on %(high_day)s, lowest %(low)s on %(low_day)s.")
            % {
                "series": label,
                "high": chart.value_format.format(fmt, getattr(high, which)),
                "high_day": fmt.day(high_day),
                "low": chart.value_format.format(fmt, getattr(low, which)),
                "low_day": fmt.day(low_day),
            }
        )
    return " ".join(parts)


def line_chart_svg(
    chart: DailyComparison,
    fmt: Formatter,
    _: Gettext,
    *,
    chart_id: str,
    title: str,
    labels: tuple[str, str],
    texts: Sequence[DayText] | None = None,
) -> Markup:
    """The chart as an inline `<svg>`; `labels` name the current and the previous period (legend and points);
    `texts` are the days as day_texts writes them (written here when not given)."""
    geometry = layout(chart, fmt)
    written = list(texts) if texts is not None else day_texts(chart, fmt)
    bottom = geometry.plot_bottom
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" class="line-chart" '
        f'data-days="{len(chart.days)}">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(describe(chart, fmt, _, title=title, labels=labels))}</desc>',
    ]
    for tick, label in zip(geometry.ticks, geometry.tick_labels, strict=True):
        y = geometry.y_of(tick)
        out.append(f'<line class="grid" x1="{geometry.left:.1f}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="y-label" x="{geometry.left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end">'
                   f"{escape(label)}</text>")  # fmt: skip
    out.append(f'<line class="axis" x1="{geometry.left:.1f}" x2="{geometry.left:.1f}" y1="{TOP}" y2="{bottom}"/>')
    out.append(f'<line class="axis" x1="{geometry.left:.1f}" x2="{WIDTH - RIGHT}" y1="{bottom}" y2="{bottom}"/>')
    for index in x_label_indexes(len(chart.days)):
        x = geometry.xs[index]
        # centred under its day; the last day's label ends at its day, so it stays inside the picture
        anchor = "end" if len(chart.days) > 1 and index == len(chart.days) - 1 else "middle"
        out.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 4}"/>')
        out.append(f'<text class="x-label" x="{x:.1f}" y="{bottom + 18}" text-anchor="{anchor}">'
                   f"{escape(fmt.short_day(chart.days[index].day))}</text>")  # fmt: skip
    if chart.empty:
        out.append(f'<text class="no-data" x="{(geometry.left + WIDTH - RIGHT) / 2:.1f}" y="{(TOP + bottom) / 2:.1f}"'
                   f' text-anchor="middle">{escape(_("No data"))}</text>')  # fmt: skip
    for which, points, label in (("previous", geometry.previous, labels[1]), ("current", geometry.current, labels[0])):
        if points:
            out.append(f'<path class="series-{which}" d="{_path(points)}"/>')
        for point in points:
            text = written[point.index]
            tip = f"{label}, {text.day if which == 'current' else text.previous_day}: " + (
                text.current if which == "current" else text.previous
            )
            out.append(
                f'<circle class="point point-{which}" cx="{point.x:.1f}" cy="{point.y:.1f}" r="3" '
                f'data-index="{point.index}" data-value="{point.value}"><title>{escape(tip)}</title>'
                "</circle>"
            )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every interpolated text above is escaped; numbers are ours
