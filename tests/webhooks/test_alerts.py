"""Alert rules on synthetic series (no database), then check_alerts end to end on stored insights."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import orjson
from accounts.helpers import insert_account, new_caller
from webhooks.helpers import run_webhook_worker

from adsvc.keys import ARQ
from adsvc.webhooks.alerts import DayStats, Series, Thresholds, ctr_drop, evaluate, spend_spike, token_alert

DAY = date(2025, 3, 10)
RULES = Thresholds()  # CTR below 70% of trailing, 1000 impressions; spend above 2x the average, at least 10


def series(last: tuple[int, int, str], trailing: list[tuple[int, int, str]], *, object_id: str = "c1") -> Series:
    days = [DayStats(DAY - timedelta(days=len(trailing) - i), imp, clicks, Decimal(spend))
            for i, (imp, clicks, spend) in enumerate(trailing)]  # fmt: skip
    days.append(DayStats(DAY, last[0], last[1], Decimal(last[2])))
    return Series(level="campaign", object_id=object_id, name="Spring sale", days=days)


STEADY = [(10_000, 200, "50")] * 7  # 2% CTR, 50 a day


def test_ctr_drop_fires_below_the_ratio_of_the_trailing_ctr():
    alert = ctr_drop(series((10_000, 100, "50"), STEADY), DAY, RULES)  # 1% vs 2%
    assert alert is not None and alert.event == "alert.ctr_drop"
    assert alert.data["ctr"] == "1.0000" and alert.data["trailing_ctr"] == "2.0000" and alert.data["ratio"] == "0.5000"
    assert alert.key == "alert.ctr_drop:campaign:c1:2025-03-10"


def test_ctr_drop_respects_the_threshold_and_minimum_impressions():
    assert ctr_drop(series((10_000, 150, "50"), STEADY), DAY, RULES) is None  # 1.5% is 75% of 2%: above 70%
    assert ctr_drop(series((999, 1, "50"), STEADY), DAY, RULES) is None  # too few impressions to judge
    assert ctr_drop(series((10_000, 100, "50"), STEADY[:2]), DAY, RULES) is None  # two days are no baseline
    assert ctr_drop(series((10_000, 100, "50"), [(100, 2, "1")] * 7), DAY, RULES) is None  # 700 trailing impressions


def test_ctr_trailing_is_a_ratio_of_sums_not_an_average_of_ratios():
    # daily CTRs 10% (100 impressions) and 1% (10,000 impressions x 6): the average of ratios would be ~2.3%,
    # the true trailing CTR is 610 / 60,100 = 1.015%; 0.8% today is 79% of it: no alert
    trailing = [(100, 10, "5")] + [(10_000, 100, "50")] * 6
    assert ctr_drop(series((10_000, 80, "50"), trailing), DAY, RULES) is None


def test_spend_spike_fires_above_the_factor_with_a_floor():
    alert = spend_spike(series((10_000, 200, "150.50"), STEADY), DAY, RULES)
    assert alert is not None and alert.data["factor"] == "3.01" and alert.data["trailing_average"] == "50.00"
    assert spend_spike(series((10_000, 200, "100"), STEADY), DAY, RULES) is None  # exactly 2x is not above it
    tiny = [(100, 2, "1")] * 7
    assert spend_spike(series((100, 2, "9.99"), tiny), DAY, RULES) is None  # below the 10 floor
    assert spend_spike(series((100, 2, "10"), tiny), DAY, RULES) is not None


def test_spend_spike_needs_a_spending_history():
    assert spend_spike(series((10_000, 200, "500"), [(0, 0, "0")] * 7), DAY, RULES) is None  # a launch, not a spike
    gaps = series((10_000, 200, "500"), STEADY)
    assert spend_spike(gaps, DAY + timedelta(days=1), RULES) is None  # no row on the day asked about


def test_evaluate_and_token_alert():
    alerts = evaluate(
        [series((10_000, 100, "400"), STEADY, object_id="a"), series((10_000, 200, "50"), STEADY, object_id="b")],
        DAY,
        RULES,
    )
    assert [(alert.event, alert.object_id) for alert in alerts] == [("alert.ctr_drop", "a"), ("alert.spend_spike", "a")]
    assert token_alert(account_id="1", token_status="valid", token_error=None, day=DAY) is None
    expired = token_alert(account_id="1", token_status="expired", token_error="Error validating", day=DAY)
    assert expired is not None and expired.key == "alert.token_expiring:account:1:2025-03-10"


async def _store(db, account_id: str, object_id: str, level: str, rows: list[tuple[date, int, int, str]]) -> None:
    await db.executemany(
        """insert into insights_daily (level, object_id, date, account_id, campaign_id, impressions, clicks,
                                       inline_link_clicks, spend, conversions, conversion_value, actions, action_values)
           values ($1, $2, $3, $4, $5, $6, $7, 0, $8, 0, 0, '{}', '{}')""",
        [(level, object_id, day, account_id, object_id if level == "campaign" else None, imp, clicks, Decimal(spend))
         for day, imp, clicks, spend in rows],
    )  # fmt: skip


async def test_check_alerts_reads_stored_insights_emits_once_per_day(client, db, settings, stack, receiver, worker_env):
    caller = await new_caller(client, db, settings)
    account_id = await insert_account(db, user_id=caller.user.id)  # its token is 'invalid': a token alert too
    campaign_id = f"9{account_id[-12:]}"
    await db.execute(
        """insert into campaigns (id, account_id, name, status, effective_status)
           values ($1, $2, 'Spring <sale>', 'ACTIVE', 'ACTIVE')""",
        campaign_id,
        account_id,
    )
    week = [(DAY - timedelta(days=d), 10_000, 200, "50") for d in range(7, 0, -1)]
    await _store(db, account_id, campaign_id, "campaign", [*week, (DAY, 10_000, 90, "200")])
    await _store(db, account_id, account_id, "account", [*week, (DAY, 10_000, 200, "60")])  # steady account
    created = await client.post(
        "/api/v1/webhooks",
        json={"url": receiver.url, "events": ["alert.ctr_drop", "alert.spend_spike", "alert.token_expiring"]},
        headers=caller.headers,
    )
    receiver.secret = (await created.json())["secret"]

    for run in range(2):  # the second run the same day finds the same alerts and delivers nothing new
        await client.app[ARQ].enqueue_job("check_alerts", account_id, DAY.isoformat(), _job_id=f"alerts-{run}")
        worker = await run_webhook_worker(stack)
        assert worker.jobs_failed == 0
    payloads = [orjson.loads(hit.body) for hit in receiver.received]
    assert all(hit.signature_ok for hit in receiver.received)
    assert sorted(p["event"] for p in payloads) == ["alert.ctr_drop", "alert.spend_spike", "alert.token_expiring"]
    by_event = {p["event"]: p for p in payloads}
    ctr = by_event["alert.ctr_drop"]["data"]
    assert (ctr["object_id"], ctr["object_name"], ctr["ctr"], ctr["trailing_ctr"]) == (
        campaign_id, "Spring <sale>", "0.9000", "2.0000"
    )  # fmt: skip
    assert by_event["alert.spend_spike"]["data"]["factor"] == "4.00"
    assert by_event["alert.token_expiring"]["data"]["token_status"] == "invalid"
    assert by_event["alert.ctr_drop"]["id"] == f"{account_id}:alert.ctr_drop:campaign:{campaign_id}:{DAY}"
