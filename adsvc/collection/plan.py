"""What a sync fetches: dates in the account's timezone, windows and chunks. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adsvc.collection.records import LEVELS

MAX_HISTORY_DAYS = 37 * 30  # Meta refuses dates older than 37 months (error 3018)


@dataclass(frozen=True, slots=True)
class Window:
    since: date
    until: date

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    def as_time_range(self) -> dict[str, str]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat()}


def account_today(timezone_name: str, now: datetime | None = None) -> date:
    """Today's date where the account lives: Meta's days are the account's days, not UTC's."""
    now = now or datetime.now(UTC)
    try:
        zone = ZoneInfo(timezone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return now.astimezone(zone).date()


def recent_window(today: date) -> Window:
    """Yesterday and today: what changes hour to hour."""
    return Window(today - timedelta(days=1), today)


def lookback_window(today: date, lookback_days: int) -> Window:
    """The restatement window: conversions keep changing for up to 28 days, so every one of them is re-read."""
    return Window(today - timedelta(days=lookback_days), today)


def backfill_chunks(today: date, days: int, *, chunk_days: int = MAX_HISTORY_DAYS) -> list[Window]:
    """`days` days ending today, newest chunk first (the freshest data is the most useful while a backfill runs).

    By default the whole range is one chunk: each report run costs a POST and its polls, so one report per level is
    the fewest calls, and a report Meta cannot produce is split by the client (halving its dates) anyway."""
    days = max(1, min(days, MAX_HISTORY_DAYS))
    start = today - timedelta(days=days - 1)
    chunks: list[Window] = []
    until = today
    while until >= start:
        since = max(start, until - timedelta(days=chunk_days - 1))
        chunks.append(Window(since, until))
        until = since - timedelta(days=1)
    return chunks


def insights_steps(windows: list[Window]) -> list[tuple[str, Window]]:
    """Every (level, window) pair a sync writes, in order; each one is a complete answer from Meta."""
    return [(level, window) for window in windows for level in LEVELS]
