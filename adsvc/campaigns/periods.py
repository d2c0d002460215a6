"""Reporting periods: a date preset or since/until, resolved against the account's today. No I/O."""

from __future__ import annotations

from datetime import date, timedelta

MAX_PERIOD_DAYS = 37 * 31

_LAST_N = {"last_7d": 7, "last_14d": 14, "last_28d": 28, "last_30d": 30, "last_90d": 90}


class PeriodError(ValueError):
    """The requested period is inconsistent; the message says why."""


def resolve_period(*, today: date, preset: str | None, since: date | None, until: date | None) -> tuple[date, date]:
    """Meta's presets: last_Nd are the N complete days before today (today excluded)."""
    if preset is not None:
        if since is not None or until is not None:
            raise PeriodError("give either date_preset or since/until, not both")
        if preset == "today":
            return today, today
        if preset == "yesterday":
            return today - timedelta(days=1), today - timedelta(days=1)
        if preset == "this_month":
            return today.replace(day=1), today
        if preset == "last_month":
            end = today.replace(day=1) - timedelta(days=1)
            return end.replace(day=1), end
        days = _LAST_N[preset]
        return today - timedelta(days=days), today - timedelta(days=1)
    if since is None and until is None:
        return today - timedelta(days=7), today - timedelta(days=1)
    if since is None or until is None:
        raise PeriodError("since and until go together")
    if until < since:
        raise PeriodError("until is before since")
    if (until - since).days + 1 > MAX_PERIOD_DAYS:
        raise PeriodError(f"a period spans at most {MAX_PERIOD_DAYS} days")
    return since, until
