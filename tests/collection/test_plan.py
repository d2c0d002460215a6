"""Sync planning on dates, without I/O."""

from datetime import UTC, date, datetime

from adsvc.collection.plan import Window, account_today, backfill_chunks, insights_steps, lookback_window


def test_today_is_the_accounts_date_not_utcs():
    late_utc = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)
    assert account_today("America/Los_Angeles", late_utc) == date(2026, 11, 21)
    assert account_today("Europe/Berlin", late_utc) == date(2026, 11, 22)
    assert account_today("Not/AZone", late_utc) == date(2026, 11, 22)


def test_lookback_covers_28_days_back_inclusive():
    window = lookback_window(date(2026, 11, 22), 28)
    assert window == Window(date(2026, 10, 25), date(2026, 11, 22)) and window.days == 29


def test_backfill_chunks_cover_every_day_once_newest_first():
    chunks = backfill_chunks(date(2026, 11, 22), 95, chunk_days=30)
    assert [c.days for c in chunks] == [30, 30, 30, 5]
    covered = [c.since.toordinal() + i for c in chunks for i in range(c.days)]
    assert sorted(covered) == list(range(date(2026, 8, 20).toordinal(), date(2026, 11, 22).toordinal() + 1))
    assert chunks[0].until == date(2026, 11, 22)


def test_steps_visit_every_level_per_window():
    steps = insights_steps([Window(date(2026, 1, 1), date(2026, 1, 2))])
    assert [level for level, _ in steps] == ["account", "campaign", "adset", "ad"]
