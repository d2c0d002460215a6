"""Alert rules over daily series: CTR drops, spend spikes and unusable tokens. No I/O: data in, alerts out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

TRAILING_DAYS = 7
# fewer trailing days with delivery than this and there is no baseline worth comparing against
MIN_TRAILING_DAYS = 3


@dataclass(frozen=True, slots=True)
class DayStats:
    date: date
    impressions: int
    clicks: int
    spend: Decimal


@dataclass(frozen=True, slots=True)
class Series:
    """One object's daily rows (any order, gaps allowed)."""

    level: str
    object_id: str
    name: str | None
    days: Sequence[DayStats]


@dataclass(frozen=True, slots=True)
class Thresholds:
    ctr_drop_ratio: Decimal = Decimal("0.7")
    ctr_min_impressions: int = 1000
    spend_spike_factor: Decimal = Decimal("2")
    spend_min: Decimal = Decimal("10")
    trailing_days: int = TRAILING_DAYS


@dataclass(frozen=True, slots=True)
class Alert:
    event: str
    level: str
    object_id: str
    date: date
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """One alert per kind, object and day: the event id, so emitting it again delivers nothing new."""
        return f"{self.event}:{self.level}:{self.object_id}:{self.date.isoformat()}"


def _q(value: Decimal, places: int = 4) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _split(series: Series, day: date, trailing_days: int) -> tuple[DayStats | None, list[DayStats]]:
    start = day - timedelta(days=trailing_days)
    last = next((row for row in series.days if row.date == day), None)
    trailing = [row for row in series.days if start <= row.date < day]
    return last, trailing


def _base(series: Series, day: date) -> dict[str, Any]:
    return {"level": series.level, "object_id": series.object_id, "object_name": series.name, "date": day.isoformat()}


def ctr_drop(series: Series, day: date, thresholds: Thresholds) -> Alert | None:
    """`day`'s CTR below ratio x the trailing CTR (clicks over impressions of the previous days, a ratio of sums),
    with enough impressions on both sides to mean something."""
    last, trailing = _split(series, day, thresholds.trailing_days)
    if last is None or last.impressions < thresholds.ctr_min_impressions:
        return None
    delivering = [row for row in trailing if row.impressions > 0]
    trailing_impressions = sum(row.impressions for row in delivering)
    if len(delivering) < MIN_TRAILING_DAYS or trailing_impressions < thresholds.ctr_min_impressions:
        return None
    trailing_ctr = Decimal(sum(row.clicks for row in delivering)) * 100 / trailing_impressions
    if trailing_ctr == 0:
        return None
    ctr = Decimal(last.clicks) * 100 / last.impressions
    if ctr >= trailing_ctr * thresholds.ctr_drop_ratio:
        return None
    return Alert(
        event="alert.ctr_drop",
        level=series.level,
        object_id=series.object_id,
        date=day,
        data={
            **_base(series, day),
            "ctr": str(_q(ctr)),
            "trailing_ctr": str(_q(trailing_ctr)),
            "ratio": str(_q(ctr / trailing_ctr)),
            "threshold_ratio": str(thresholds.ctr_drop_ratio),
            "impressions": last.impressions,
            "clicks": last.clicks,
            "trailing_days": len(delivering),
        },
    )


def spend_spike(series: Series, day: date, thresholds: Thresholds) -> Alert | None:
    """`day`'s spend above factor x the average daily spend of the previous days that spent, and above a floor."""
    last, trailing = _split(series, day, thresholds.trailing_days)
    if last is None or last.spend < thresholds.spend_min:
        return None
    spending = [row for row in trailing if row.spend > 0]
    if len(spending) < MIN_TRAILING_DAYS:
        return None  # a campaign that just started spending is not spiking
    average = sum((row.spend for row in spending), Decimal(0)) / len(spending)
    if last.spend <= average * thresholds.spend_spike_factor:
        return None
    return Alert(
        event="alert.spend_spike",
        level=series.level,
        object_id=series.object_id,
        date=day,
        data={
            **_base(series, day),
            "spend": str(_q(last.spend, 2)),
            "trailing_average": str(_q(average, 2)),
            "factor": str(_q(last.spend / average, 2)),
            "threshold_factor": str(thresholds.spend_spike_factor),
            "trailing_days": len(spending),
        },
    )


def token_alert(*, account_id: str, token_status: str, token_error: str | None, day: date) -> Alert | None:
    """Meta does not tell us when a long-lived token will expire, only that it stopped working: an invalid or
    expired token is the alert (once a day until it is reconnected)."""
    if token_status == "valid":  # noqa: S105 - a status name, not a password
        return None
    return Alert(
        event="alert.token_expiring",
        level="account",
        object_id=account_id,
        date=day,
        data={"token_status": token_status, "error": token_error, "date": day.isoformat()},
    )


def evaluate(series: Iterable[Series], day: date, thresholds: Thresholds) -> list[Alert]:
    alerts: list[Alert] = []
    for one in series:
        for rule in (ctr_drop, spend_spike):
            alert = rule(one, day, thresholds)
            if alert is not None:
                alerts.append(alert)
    return alerts
