"""The dashboard from insights a burst worker synced from the sandbox, checked against the sandbox's ground truth
(current and previous period, change, top campaigns), per currency when accounts differ, with tenancy and
validation."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from accounts.helpers import connect_ok, expect_metrics, new_caller, sandbox_accounts, sandbox_state
from analytics.synthetic import Day, by_campaign, insert_campaign, insert_days, sums, synthetic_account

from adsvc.collection.plan import account_today

URL = "/api/v1/analytics/dashboard"


@pytest.fixture
async def synced(client, db, settings, graph_sandbox, ensure_synced) -> dict[str, Any]:
    """A member of the sandbox's first account, synced (only that one: tests/jobs counts the other's syncs)."""
    account = sandbox_accounts(graph_sandbox)[0]
    caller = await new_caller(client, db, settings)
    await connect_ok(client, caller, account.account_id)
    await ensure_synced(account.account_id)
    return {"caller": caller, "account": account, "today": account_today(account.timezone_name),
            "data": sandbox_state(graph_sandbox).data}  # fmt: skip


def expected_change(current: Any, previous: Any) -> Decimal | None:
    if current is None or previous is None or not Decimal(str(previous)):
        return None
    change = (Decimal(str(current)) - Decimal(str(previous))) * 100 / abs(Decimal(str(previous)))
    return change.quantize(Decimal("0.01"))


def check_period(body: dict[str, Any], synced: dict[str, Any], since: date, until: date) -> None:
    data, account = synced["data"], synced["account"]
    expect_metrics(body, sums(data.ground_truth_insights(account.id, "account", since, until)))
    campaigns = data.ground_truth_insights(account.id, "campaign", since, until)
    delivered = {row["campaign_id"] for row in campaigns if row["impressions"] > 0 or row["spend"] > 0}
    assert body["active_campaigns"] == len(delivered) > 0


async def get(client, caller, **params: str) -> tuple[int, dict[str, Any]]:
    response = await client.get(URL, params=params, headers=caller.headers)
    return response.status, await response.json()


async def test_last_7d_and_the_7_days_before_equal_the_ground_truth(client, synced):
    account, today = synced["account"], synced["today"]
    status, body = await get(client, synced["caller"], account_id=f"act_{account.account_id}")
    assert status == 200, body
    assert body["date_preset"] == "last_7d" and body["mixed_currencies"] is False
    [period] = body["accounts"]
    assert (period["since"], period["until"]) == (
        (today - timedelta(7)).isoformat(),
        (today - timedelta(1)).isoformat(),
    )
    assert (period["previous_since"], period["previous_until"]) == (
        (today - timedelta(14)).isoformat(), (today - timedelta(8)).isoformat())  # fmt: skip
    [group] = body["by_currency"]
    assert group["currency"] == account.currency and group["account_ids"] == [account.account_id]
    check_period(group["current"], synced, today - timedelta(7), today - timedelta(1))
    check_period(group["previous"], synced, today - timedelta(14), today - timedelta(8))
    for name, change in group["change_pct"].items():
        assert (None if change is None else Decimal(change)) == expected_change(
            group["current"][name], group["previous"][name]), name  # fmt: skip
    assert group["change_pct"]["spend"] is not None
    active_now = [c for c in synced["data"].objects(account.id, "campaign") if c["effective_status"] == "ACTIVE"]
    assert group["campaigns_active_now"] == len(active_now)


async def test_top_campaigns_are_the_biggest_spenders_with_their_metrics(client, synced):
    account, today = synced["account"], synced["today"]
    since, until = today - timedelta(13), today - timedelta(8)
    status, body = await get(client, synced["caller"], account_id=account.account_id, top="2",
                             since=since.isoformat(), until=until.isoformat())  # fmt: skip
    assert status == 200, body
    assert body["date_preset"] is None
    [group] = body["by_currency"]
    check_period(group["current"], synced, since, until)
    # the previous period has the same 6 days' length and ends the day before
    check_period(group["previous"], synced, since - timedelta(6), since - timedelta(1))
    truth = by_campaign(synced["data"].ground_truth_insights(account.id, "campaign", since, until))
    ranked = sorted(truth, key=lambda campaign_id: (-truth[campaign_id]["spend"], campaign_id))
    assert [row["campaign_id"] for row in group["top_campaigns"]] == ranked[:2]
    for row in group["top_campaigns"]:
        expect_metrics(row, truth[row["campaign_id"]])
        assert row["account_id"] == account.account_id and row["name"]


async def test_accounts_in_other_currencies_are_totalled_apart(client, db, synced):
    account, today = synced["account"], synced["today"]
    caller = synced["caller"]
    other = await synthetic_account(db, user_id=caller.user.id, currency="USD")
    assert account.currency != "USD"
    yesterday = account_today("UTC") - timedelta(1)
    await insert_campaign(db, account_id=other, campaign_id=f"{other}1")
    for level, object_id in (("account", other), ("campaign", f"{other}1")):
        await insert_days(db, account_id=other, level=level, object_id=object_id, campaign_id=f"{other}1",
                          days=[Day(yesterday, Decimal("12.50"), 1000, 20, Decimal(1), Decimal("40"))])  # fmt: skip
    status, body = await get(client, caller, date_preset="yesterday")
    assert status == 200, body
    assert body["mixed_currencies"] is True and "never added across currencies" in body["note"]
    groups = {group["currency"]: group for group in body["by_currency"]}
    assert set(groups) == {account.currency, "USD"}
    usd = groups["USD"]
    expect_metrics(usd["current"], {"spend": Decimal("12.50"), "impressions": 1000, "clicks": 20,
                                    "inline_link_clicks": 20, "conversions": 1, "conversion_value": 40})  # fmt: skip
    assert usd["current"]["active_campaigns"] == 1 and usd["previous"]["spend"] == "0"
    assert [row["campaign_id"] for row in usd["top_campaigns"]] == [f"{other}1"]
    day = today - timedelta(1)
    check_period(groups[account.currency]["current"], synced, day, day)
    assert all(row["account_id"] == account.account_id for row in groups[account.currency]["top_campaigns"])


async def test_another_users_account_is_404_and_no_accounts_is_empty(client, db, settings, synced):
    stranger = await new_caller(client, db, settings)
    status, body = await get(client, stranger, account_id=synced["account"].account_id)
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await get(client, stranger)
    assert status == 200 and body["by_currency"] == [] and body["accounts"] == []


@pytest.mark.parametrize(
    "params",
    [{"since": "2025-01-01"}, {"date_preset": "last_7d", "since": "2025-01-01", "until": "2025-01-02"},
     {"since": "2025-01-05", "until": "2025-01-01"}, {"date_preset": "forever"}, {"top": "0"}, {"top": "51"},
     {"account_id": "abc"}, {"colour": "blue"}, {"since": "0", "until": "0"},
     {"since": "0001-01-01", "until": "0001-01-05"}],
)  # fmt: skip
async def test_invalid_parameters_are_422(client, db, settings, params):
    caller = await new_caller(client, db, settings)
    await synthetic_account(db, user_id=caller.user.id, currency="EUR")
    status, body = await get(client, caller, **params)
    assert status == 422, body
    assert body["error"]["code"] == "validation_failed"
