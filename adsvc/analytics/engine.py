"""Analytics math on stored totals: performance scores, moving averages, growth and anomaly flags. No I/O.

Performance score (the older service's definition, made precise)
    Three parts, each a 0-100 subscore of a campaign's period totals against a benchmark:
    - CTR  (weight 0.3): min(100, ctr / ctr_benchmark * 100), ctr = clicks * 100 / impressions (a percentage).
      Applies when impressions > 0.
    - CPA  (weight 0.4): min(100, cpa_benchmark / cpa * 100), cpa = spend / conversions (lower is better).
      Applies when conversions > 0; a CPA of 0 (conversions at no spend) scores 100.
    - ROAS (weight 0.3): min(100, roas / roas_benchmark * 100), roas = conversion_value / spend, the value of the
      purchase and lead actions (action_values), not a guess from counts. Applies when spend > 0 and
      conversion_value > 0: a campaign that records no action value (traffic, or leads without a value) is not
      judged on a return it does not measure.
    The score is the weighted mean over the parts that apply: sum(weight * subscore) / sum(weight), rounded half
    up to 0.01; with no part applicable (no impressions) there is no score and no rating. A campaign without
    conversions is therefore judged on CTR alone: the score says how it compares where it can be measured, and
    `parts` / `skipped` say which parts it rests on. Ratings on the rounded score: Excelente >= 80, Bom >= 60,
    Regular >= 40, else Ruim.

Moving averages and growth
    A day is either covered (inside the stored data: a missing row there means no delivery, i.e. zeros) or not
    (before the first or after the last stored day), and a window counts only when every day in it is covered.
    The N-day moving average of an additive metric (spend, impressions, clicks, conversions) is the mean of its
    daily values over the trailing N days including the day; of a ratio (CTR, CPC, CPM, CPA, ROAS) it is the ratio
    of the window's sums (the "rolling 7-day CTR"), never a mean of daily ratios. Growth over N days compares the
    last N days with the N before: sums for additive metrics, ratios of sums for ratios, change in percent of the
    previous value (none when that is zero or missing).

Anomalies: a robust z-score against a trailing window
    For each day with a value, the baseline is the median of the up to 14 preceding days with a value (the day
    itself excluded, so a spike cannot hide itself) and the spread is the median absolute deviation (MAD) around
    that median. score = 0.6745 * (value - median) / MAD, the modified z-score of Iglewicz and Hoaglin, which reads
    like a standard z-score for normal data. A day is "high" when score > threshold and "low" when
    score < -threshold (default 3.5, their recommendation). Unlike mean +/- 2 standard deviations, the median and
    MAD barely move when the window itself holds an earlier outlier, so a second spike a few days after the first
    is still caught, and a single spike does not inflate the spread enough to mask a drop. At least 7 points are
    needed (fewer: no verdict). When MAD is 0 (more than half the window identical), the mean absolute deviation
    scaled by 1.2533 stands in; when that is 0 too (a constant window), any different value is flagged with no score.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from adsvc.campaigns.metrics import Totals, derive

Metric = Literal["spend", "impressions", "clicks", "ctr", "cpc", "cpm", "conversions", "cpa", "roas"]
METRICS: tuple[Metric, ...] = ("spend", "impressions", "clicks", "ctr", "cpc", "cpm", "conversions", "cpa", "roas")
ADDITIVE: frozenset[str] = frozenset({"spend", "impressions", "clicks", "conversions"})

HUNDRED = Decimal(100)
_CENT = Decimal("0.01")
_PLACES = Decimal("0.000001")

WEIGHTS: dict[str, Decimal] = {"ctr": Decimal("0.3"), "cpa": Decimal("0.4"), "roas": Decimal("0.3")}
MOVING_AVERAGE_WINDOWS = (7, 14, 30)
GROWTH_WINDOWS = (7, 14, 30)
ANOMALY_WINDOW = 14
ANOMALY_MIN_POINTS = 7
ANOMALY_THRESHOLD = Decimal("3.5")
_MAD_SCALE = Decimal("0.6745")
_MEAN_AD_SCALE = Decimal("1.253314")

ZERO_TOTALS = Totals(
    spend=Decimal(0), impressions=0, clicks=0, inline_link_clicks=0, conversions=Decimal(0), conversion_value=Decimal(0)
)


def _round(value: Decimal, quantum: Decimal = _CENT) -> Decimal:
    return value.quantize(quantum, rounding=ROUND_HALF_UP)


# ---- periods -------------------------------------------------------------------------------------------------------


class PeriodOverflow(ValueError):
    """The previous period would start before the first representable date."""


def previous_period(since: date, until: date) -> tuple[date, date]:
    """The period of equal length that ends the day before `since`."""
    length = (until - since).days + 1
    try:
        return since - timedelta(days=length), since - timedelta(days=1)
    except OverflowError:
        raise PeriodOverflow("the previous period would start before year 1") from None


def percent_change(current: Decimal | int | None, previous: Decimal | int | None) -> Decimal | None:
    """(current - previous) / |previous| in percent, to 0.01; None when either is missing or previous is 0."""
    if current is None or previous is None or not previous:
        return None
    return _round((Decimal(current) - Decimal(previous)) * HUNDRED / abs(Decimal(previous)))


def add_totals(rows: Sequence[Totals]) -> Totals:
    return Totals(
        spend=sum((row.spend for row in rows), Decimal(0)),
        impressions=sum(row.impressions for row in rows),
        clicks=sum(row.clicks for row in rows),
        inline_link_clicks=sum(row.inline_link_clicks for row in rows),
        conversions=sum((row.conversions for row in rows), Decimal(0)),
        conversion_value=sum((row.conversion_value for row in rows), Decimal(0)),
    )


def metric_value(totals: Totals, metric: Metric) -> Decimal | None:
    """One metric of a day or period: additive metrics as they are, ratios derived from the sums."""
    if metric in ADDITIVE:
        return Decimal(getattr(totals, metric))
    value: Decimal | None = getattr(derive(totals), metric)
    return value


# ---- performance score ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Benchmarks:
    ctr: Decimal  # percent
    cpa: Decimal  # account currency
    roas: Decimal


DEFAULT_BENCHMARKS = Benchmarks(ctr=Decimal("2.0"), cpa=Decimal("50"), roas=Decimal("2.5"))


class Rating(enum.StrEnum):
    """The older service's ratings, by their Portuguese labels (its clients read those)."""

    EXCELENTE = "Excelente"
    BOM = "Bom"
    REGULAR = "Regular"
    RUIM = "Ruim"

    @property
    def code(self) -> RatingCode:
        """The stable, language-neutral code of the rating (what clients and translations key on)."""
        return RATING_CODES[self]


RatingCode = Literal["excellent", "good", "fair", "poor"]
RATING_CODES: dict[Rating, RatingCode] = {
    Rating.EXCELENTE: "excellent",
    Rating.BOM: "good",
    Rating.REGULAR: "fair",
    Rating.RUIM: "poor",
}


@dataclass(frozen=True, slots=True)
class ScorePart:
    metric: str
    value: Decimal
    benchmark: Decimal
    weight: Decimal
    subscore: Decimal  # 0-100, unrounded


@dataclass(frozen=True, slots=True)
class Score:
    score: Decimal | None
    rating: Rating | None
    parts: tuple[ScorePart, ...]
    skipped: dict[str, str]  # metric -> why it does not apply


def rating_for(score: Decimal) -> Rating:
    if score >= 80:
        return Rating.EXCELENTE
    if score >= 60:
        return Rating.BOM
    if score >= 40:
        return Rating.REGULAR
    return Rating.RUIM


def score_campaign(totals: Totals, benchmarks: Benchmarks) -> Score:
    """The weighted performance score of one campaign's period totals (see the module docstring)."""
    parts: list[ScorePart] = []
    skipped: dict[str, str] = {}
    if totals.impressions > 0:
        ctr = Decimal(totals.clicks) * HUNDRED / totals.impressions
        parts.append(
            ScorePart("ctr", ctr, benchmarks.ctr, WEIGHTS["ctr"], min(HUNDRED, ctr / benchmarks.ctr * HUNDRED))
        )
    else:
        skipped["ctr"] = "no impressions"
    if totals.conversions > 0:
        cpa = totals.spend / totals.conversions
        subscore = HUNDRED if cpa == 0 else min(HUNDRED, benchmarks.cpa / cpa * HUNDRED)
        parts.append(ScorePart("cpa", cpa, benchmarks.cpa, WEIGHTS["cpa"], subscore))
    else:
        skipped["cpa"] = "no conversions"
    if totals.spend > 0 and totals.conversion_value > 0:
        roas = totals.conversion_value / totals.spend
        parts.append(
            ScorePart("roas", roas, benchmarks.roas, WEIGHTS["roas"], min(HUNDRED, roas / benchmarks.roas * HUNDRED))
        )
    else:
        skipped["roas"] = "no spend" if totals.spend <= 0 else "no conversion value"
    if not parts:
        return Score(score=None, rating=None, parts=(), skipped=skipped)
    weighted = sum((part.weight * part.subscore for part in parts), Decimal(0))
    score = _round(weighted / sum((part.weight for part in parts), Decimal(0)))
    return Score(score=score, rating=rating_for(score), parts=tuple(parts), skipped=skipped)


# ---- moving averages and growth ------------------------------------------------------------------------------------


def _window_value(days: Sequence[Totals | None], metric: Metric) -> Decimal | None:
    """The value of a whole window, or None when a day in it is not covered."""
    if not days or any(day is None for day in days):
        return None
    totals = add_totals([day for day in days if day is not None])
    return metric_value(totals, metric)


def moving_average(days: Sequence[Totals | None], metric: Metric, window: int) -> list[Decimal | None]:
    """Trailing `window`-day average for each day (including the day); None until a full covered window exists."""
    result: list[Decimal | None] = []
    for index in range(len(days)):
        if index + 1 < window:
            result.append(None)
            continue
        value = _window_value(days[index + 1 - window : index + 1], metric)
        if value is not None and metric in ADDITIVE:
            value = _round(value / window, _PLACES)
        result.append(value)
    return result


@dataclass(frozen=True, slots=True)
class Growth:
    window_days: int
    current: Decimal | None
    previous: Decimal | None
    change_pct: Decimal | None


def growth(days: Sequence[Totals | None], metric: Metric, window: int) -> Growth:
    """The last `window` days against the `window` days before them."""
    current = _window_value(days[-window:], metric) if len(days) >= window else None
    previous = _window_value(days[-2 * window : -window], metric) if len(days) >= 2 * window else None
    return Growth(window_days=window, current=current, previous=previous, change_pct=percent_change(current, previous))


# ---- anomalies -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Anomaly:
    baseline: Decimal | None  # median of the trailing window
    score: Decimal | None  # robust z-score, to 0.01
    flag: Literal["high", "low"] | None


NO_VERDICT = Anomaly(baseline=None, score=None, flag=None)


def _median(values: Sequence[Decimal]) -> Decimal:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def detect_anomalies(
    values: Sequence[Decimal | None],
    *,
    window: int = ANOMALY_WINDOW,
    min_points: int = ANOMALY_MIN_POINTS,
    threshold: Decimal = ANOMALY_THRESHOLD,
) -> list[Anomaly]:
    """One verdict per value: the robust z-score against the trailing window (see the module docstring)."""
    if min_points < 3 or window < min_points:
        raise ValueError("the trailing window needs at least 3 points and room for min_points")
    result: list[Anomaly] = []
    for index, value in enumerate(values):
        history = [v for v in values[max(0, index - window) : index] if v is not None]
        if value is None or len(history) < min_points:
            result.append(NO_VERDICT)
            continue
        baseline = _median(history)
        deviations = [abs(v - baseline) for v in history]
        mad = _median(deviations)
        if mad > 0:
            score: Decimal | None = _MAD_SCALE * (value - baseline) / mad
        else:
            mean_ad = sum(deviations, Decimal(0)) / len(deviations)
            score = (value - baseline) / (_MEAN_AD_SCALE * mean_ad) if mean_ad > 0 else None
        flag: Literal["high", "low"] | None = None
        if score is None:
            if value != baseline:
                flag = "high" if value > baseline else "low"
        elif score > threshold:
            flag = "high"
        elif score < -threshold:
            flag = "low"
        result.append(Anomaly(baseline=baseline, score=None if score is None else _round(score), flag=flag))
    return result
