from __future__ import annotations

import json

import pytest

from adsvc.graph.usage import Pacer, Usage, lower_headers, parse_usage


def headers(**values: object) -> dict[str, str]:
    names = {
        "app": "x-app-usage",
        "account": "x-ad-account-usage",
        "business": "x-business-use-case-usage",
        "insights": "x-fb-ads-insights-throttle",
    }
    return {names[key]: json.dumps(value) for key, value in values.items()}


def test_parse_every_usage_header() -> None:
    usage = parse_usage(
        headers(
            app={"call_count": 28, "total_time": 25, "total_cputime": 31},
            account={"acc_id_util_pct": 9.67, "reset_time_duration": 100, "ads_api_access_tier": "standard_access"},
            business={"42": [{"type": "ads_management", "call_count": 55, "total_time": 20, "total_cputime": 20,
                              "estimated_time_to_regain_access": 3}]},
            insights={"app_id_util_pct": 12, "acc_id_util_pct": 88.5},
        ),
        account_id="act_42",
        observed_at=5.0,
    )  # fmt: skip
    assert usage.present and usage.observed_at == 5.0
    assert (usage.app_pct, usage.account_pct, usage.business_pct) == (31, 9.67, 55)
    assert usage.max_pct == 55
    assert usage.eta_seconds == 180
    assert usage.account_reset_seconds == 100
    assert usage.insights_pct == 88.5
    assert usage.tier == "standard_access"


def test_business_usage_of_other_accounts_is_ignored_when_ours_is_listed() -> None:
    raw = headers(business={"1": [{"call_count": 99, "estimated_time_to_regain_access": 30}], "2": [{"call_count": 5}]})
    assert parse_usage(raw, account_id="2").business_pct == 5
    assert parse_usage(raw, account_id="2").eta_seconds == 0
    # Not listed (or unknown): the fullest entry counts, to stay on the safe side.
    assert parse_usage(raw, account_id="3").business_pct == 99


def test_absent_and_malformed_headers_parse_to_nothing() -> None:
    assert parse_usage({}, account_id="1") == Usage()
    broken = parse_usage({"X-App-Usage": "{not json", "x-fb-ads-insights-throttle": "[]"}, account_id=None)
    assert broken.present and broken.max_pct == 0 and broken.insights_pct is None


def test_batch_header_lists_are_read_case_insensitively() -> None:
    entry_headers = [{"name": "X-App-Usage", "value": '{"call_count": 80}'}, {"name": "Content-Type", "value": "x"}]
    assert lower_headers(entry_headers)["x-app-usage"] == '{"call_count": 80}'
    assert parse_usage(entry_headers, account_id=None).app_pct == 80


@pytest.mark.parametrize(
    ("pct", "insights", "low", "high"),
    [
        (0, False, 0, 0),
        (74.9, False, 0, 0),
        (80, False, 1, 60),
        (85, True, 120, 120),
        (90, True, 120, 600),
        (95, False, 600, 600),
        (95, True, 600, 600),
        (100, True, 600, 3600),
        (130, False, 600, 3600),
    ],
)
def test_pacer_waits_more_as_usage_nears_the_limit(pct: float, insights: bool, low: float, high: float) -> None:
    usage = Usage(app_pct=pct, insights_app_pct=pct, present=True)
    delay = Pacer().required_delay(usage, insights=insights)
    assert low <= delay <= high


def test_pacer_delays_grow_monotonically_and_scale() -> None:
    pacer = Pacer()
    delays = [pacer.required_delay(Usage(account_pct=p, present=True)) for p in range(0, 101)]
    assert delays == sorted(delays)
    fast = Pacer(time_scale=0.001)
    assert fast.required_delay(Usage(account_pct=95, present=True)) == pytest.approx(0.6)


def test_pacer_counts_time_already_waited_and_honours_the_eta() -> None:
    pacer = Pacer()
    usage = Usage(app_pct=95, present=True, observed_at=100.0)
    assert pacer.delay(usage, now=100.0) == 600
    assert pacer.delay(usage, now=400.0) == 300
    assert pacer.delay(usage, now=800.0) == 0
    blocked = Usage(app_pct=10, eta_seconds=1200, present=True, observed_at=0.0)
    assert pacer.delay(blocked, now=0.0) == 1200
    assert pacer.delay(Usage(), now=0.0) == 0


def test_new_async_jobs_start_only_below_90_percent_insights_throttle() -> None:
    pacer = Pacer()
    assert pacer.may_start_async_job(Usage())
    assert pacer.may_start_async_job(Usage(insights_app_pct=89.9, insights_account_pct=10, present=True))
    assert not pacer.may_start_async_job(Usage(insights_app_pct=10, insights_account_pct=90, present=True))
    # General usage alone does not stop an async job; the insights throttle does.
    assert pacer.may_start_async_job(Usage(app_pct=99, present=True))
