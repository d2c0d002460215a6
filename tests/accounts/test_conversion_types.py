"""Conversions counted the way Meta's users count them, end to end: three sandbox accounts that report purchases
and leads as real accounts do (omni_purchase with its website subsets, pixel-only, lead forms) synced by the
burst worker over HTTP; CPA and ROAS in the campaign list, the campaign insights and the dashboard against the
sandbox's ground truth (every purchase and lead once); and the per-account setting (PATCH
/api/v1/ad-accounts/{id}) recounting stored rows, read by later syncs, refused to viewers and strangers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from accounts.helpers import (
    Caller,
    connect_ok,
    expect_metrics,
    new_caller,
    run_worker_burst,
    sandbox_accounts,
    sandbox_state,
)
from analytics.synthetic import sums
from ground_truth import assert_matches_ground_truth

from adsvc.collection.plan import account_today, lookback_window
from adsvc.collection.queries import conversion_action_types_for_ingest
from adsvc.keys import ARQ
from adsvc.sandbox import SandboxConfig, create_sandbox_app
from adsvc.sandbox.data import AdAccount

# the suite's tiny sandbox with a third account: accounts are generated per index, so the first two are the very
# accounts (and data) other modules sync into the shared database
THREE_ACCOUNTS = SandboxConfig(accounts=3, campaigns_per_account=3, adsets_per_campaign=2, ads_per_adset=2, days=40)
PIXEL_PURCHASE = "offsite_conversion.fb_pixel_purchase"


@pytest.fixture
async def graph_sandbox(aiohttp_server: Any) -> Any:
    return await aiohttp_server(create_sandbox_app(THREE_ACCOUNTS))


@pytest.fixture
async def synced(client, db, settings, graph_sandbox, ensure_synced) -> AsyncIterator[dict[str, Any]]:
    """A member (manager or owner) of the three accounts, all synced; every account's setting back to the default
    (and its rows recounted) afterwards, since later modules compare the same accounts with the ground truth."""
    accounts = sandbox_accounts(graph_sandbox)
    assert [a.conversion_profile for a in accounts] == ["omni", "pixel_only", "lead_forms"]
    caller = await new_caller(client, db, settings)
    for account in accounts:
        await connect_ok(client, caller, account.account_id)
    await ensure_synced(*(account.account_id for account in accounts))
    state = sandbox_state(graph_sandbox)
    yield {"caller": caller, "accounts": accounts, "data": state.data, "state": state}
    for account in accounts:
        response = await patch(client, caller, account.account_id, None)
        assert response.status == 200, await response.text()


async def patch(client, caller: Caller, account_id: str, types: Any) -> Any:
    return await client.patch(
        f"/api/v1/ad-accounts/{account_id}", json={"conversion_action_types": types}, headers=caller.headers
    )


def last_7d(account: AdAccount) -> tuple[date, date]:
    today = account_today(account.timezone_name)
    return today - timedelta(days=7), today - timedelta(days=1)


def campaign_truth(synced: dict[str, Any], account: AdAccount, since: date, until: date) -> dict[str, list[Any]]:
    by_campaign: dict[str, list[Any]] = {}
    for row in synced["data"].ground_truth_insights(account.id, "campaign", since, until):
        by_campaign.setdefault(row["campaign_id"], []).append(row)
    return by_campaign


async def campaign_list(client, caller: Caller, account: AdAccount) -> dict[str, Any]:
    response = await client.get(
        "/api/v1/campaigns", params={"account_id": account.account_id, "limit": "200"}, headers=caller.headers
    )
    assert response.status == 200, await response.text()
    return {entry["id"]: entry for entry in (await response.json())["data"]}


async def expect_cpa_and_roas_everywhere(
    client, synced: dict[str, Any], account: AdAccount, *, valued: bool = True
) -> None:
    """The campaign list, each campaign's insights and the dashboard equal the ground truth: conversions are every
    purchase and lead once, CPA and ROAS derived from them (`valued`: the period has purchases with a value)."""
    caller = synced["caller"]
    since, until = last_7d(account)
    truth = campaign_truth(synced, account, since, until)
    listed = await campaign_list(client, caller, account)
    converting = 0
    for campaign_id, entry in listed.items():
        expected = sums(truth.get(campaign_id, []))
        expect_metrics(entry["last_7d"], expected)
        converting += expected["conversions"] > 0
        response = await client.get(
            f"/api/v1/campaigns/{campaign_id}/insights",
            params={"since": since.isoformat(), "until": until.isoformat()},
            headers=caller.headers,
        )
        assert response.status == 200, await response.text()
        expect_metrics((await response.json())["totals"], expected)
    assert converting > 0, "the sandbox account should have campaigns with conversions"
    response = await client.get(
        "/api/v1/analytics/dashboard",
        params={"account_id": account.account_id, "since": since.isoformat(), "until": until.isoformat()},
        headers=caller.headers,
    )
    assert response.status == 200, await response.text()
    [group] = (await response.json())["by_currency"]
    expected = sums(synced["data"].ground_truth_insights(account.id, "account", since, until))
    expect_metrics(group["current"], expected)
    assert expected["conversions"] > 0 and group["current"]["cpa"] is not None
    if valued:
        assert expected["conversion_value"] > 0 and Decimal(group["current"]["roas"]) > 0


async def test_pixel_only_account_has_cpa_and_roas_in_list_insights_and_dashboard(client, db, synced):
    account = synced["accounts"][1]
    since, until = last_7d(account)
    rows = synced["data"].ground_truth_insights(account.id, "account", since, until)
    # Meta names its purchases and leads only by the pixel types: counting purchase + lead would find none
    assert not any({"purchase", "omni_purchase", "lead"} & set(row["actions"]) for row in rows)
    assert any(PIXEL_PURCHASE in row["actions"] for row in rows)
    await expect_cpa_and_roas_everywhere(client, synced, account)
    window = lookback_window(account_today(account.timezone_name), 28)
    assert await assert_matches_ground_truth(db, synced["state"], account.id, window.since, window.until)


async def test_omni_purchase_and_its_overlapping_types_count_each_purchase_once(client, db, synced):
    account = synced["accounts"][0]
    since, until = last_7d(account)
    rows = synced["data"].ground_truth_insights(account.id, "ad", since, until)
    # like Meta: omni_purchase = purchase, the website types a subset of it, on some rows strictly smaller
    subset = 0
    for row in rows:
        actions = row["actions"]
        if "omni_purchase" in actions:
            assert actions["purchase"] == actions["omni_purchase"] >= actions.get(PIXEL_PURCHASE, 0)
            assert actions.get("onsite_web_purchase") == actions.get(PIXEL_PURCHASE)
            subset += actions.get(PIXEL_PURCHASE, 0) < actions["omni_purchase"]
    assert subset > 0
    stored = await db.fetch(
        """select actions, conversions from insights_daily
           where account_id = $1 and level = 'ad' and date between $2 and $3""",
        account.account_id, since, until,
    )  # fmt: skip
    double_counted = 0
    for row in stored:
        actions = {key: Decimal(value) for key, value in row["actions"].items()}
        once = actions.get("omni_purchase", 0) + actions.get("lead", 0)
        assert row["conversions"] == once
        double_counted += once != sum(
            actions.get(name, 0) for name in ("omni_purchase", "purchase", PIXEL_PURCHASE, "onsite_web_purchase")
        ) + actions.get("lead", 0)
    assert double_counted > 0
    await expect_cpa_and_roas_everywhere(client, synced, account)


async def test_lead_gen_account_counts_form_leads_once(client, db, synced):
    account = synced["accounts"][2]
    since, until = last_7d(account)
    rows = synced["data"].ground_truth_insights(account.id, "campaign", since, until)
    with_leads = [row for row in rows if "lead" in row["actions"]]
    assert with_leads
    for row in with_leads:
        actions = row["actions"]
        assert actions["lead"] == actions["onsite_conversion.lead_grouped"] == actions["leadgen_grouped"]
    campaign_rows = await db.fetch(
        """select object_id, date, conversions from insights_daily
           where account_id = $1 and level = 'campaign' and date between $2 and $3""",
        account.account_id, since, until,
    )  # fmt: skip
    stored = {(row["object_id"], row["date"]): row["conversions"] for row in campaign_rows}
    for row in with_leads:
        expected = row["actions"]["lead"] + row["actions"].get("omni_purchase", 0)
        assert stored[(row["campaign_id"], row["date_start"])] == expected == row["conversions"]
    # leads carry no value: CPA is spend per lead, ROAS whatever the few purchases bring (here none)
    await expect_cpa_and_roas_everywhere(client, synced, account, valued=False)


async def stored_rows(db, account_id: str) -> list[Any]:
    return await db.fetch(
        """select level, object_id, date, actions, action_values, conversions, conversion_value
           from insights_daily where account_id = $1""",
        account_id,
    )


async def test_changing_the_setting_recounts_stored_rows_and_the_campaign_list(client, db, synced, stack):
    account, caller = synced["accounts"][0], synced["caller"]
    before = await campaign_list(client, caller, account)
    response = await patch(client, caller, f"act_{account.account_id}", [PIXEL_PURCHASE])
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["changed"] is True and body["recounted_rows"] > 0
    assert body["conversions"] == {"action_types": [PIXEL_PURCHASE], "rule": PIXEL_PURCHASE}

    # every stored row, every level: website purchases only, their value from action_values
    rows = await stored_rows(db, account.account_id)
    assert len(rows) > 100
    for row in rows:
        assert row["conversions"] == Decimal(row["actions"].get(PIXEL_PURCHASE, 0))
        assert row["conversion_value"] == Decimal(row["action_values"].get(PIXEL_PURCHASE, 0))
    # the campaign list's stored rows follow: CPA and ROAS from the website purchases
    since, until = last_7d(account)
    truth = campaign_truth(synced, account, since, until)
    after = await campaign_list(client, caller, account)
    changed = 0
    for campaign_id, entry in after.items():
        days = truth.get(campaign_id, [])
        expected = sums(days) | {
            "conversions": sum((day["actions"].get(PIXEL_PURCHASE, Decimal(0)) for day in days), Decimal(0)),
            "conversion_value": sum((day["action_values"].get(PIXEL_PURCHASE, Decimal(0)) for day in days),
                                    Decimal(0)),
        }  # fmt: skip
        expect_metrics(entry["last_7d"], expected)
        changed += entry["last_7d"]["cpa"] != before[campaign_id]["last_7d"]["cpa"]
    assert changed > 0
    stored_list_rows = await db.fetchval(
        "select count(*) from campaign_metrics_7d where account_id = $1", account.account_id
    )
    assert stored_list_rows == len(after)

    # shown in the account detail; audited once; the same request again changes (and audits) nothing
    detail = await (await client.get(f"/api/v1/ad-accounts/{account.account_id}", headers=caller.headers)).json()
    assert detail["conversions"]["action_types"] == [PIXEL_PURCHASE]
    again = await (await patch(client, caller, account.account_id, [PIXEL_PURCHASE])).json()
    assert again["changed"] is False and again["recounted_rows"] == 0
    audits = await db.fetch(
        """select actor_id, before, after, details from audit_log
           where action = 'ad_account.conversion_types' and target_id = $1 and actor_id = $2""",
        account.account_id, caller.user.id,
    )  # fmt: skip
    assert len(audits) == 1
    assert audits[0]["before"] == {"conversion_action_types": None}
    assert audits[0]["after"] == {"conversion_action_types": [PIXEL_PURCHASE]}
    assert audits[0]["details"]["recounted_rows"] == body["recounted_rows"]

    # a later sync counts by the setting too: rows whose stored conversions disagree are rewritten by it
    await db.execute(
        "update insights_daily set conversions = 0, conversion_value = 0 where account_id = $1", account.account_id
    )
    job_id = f"conversions-test-sync:{account.account_id}:{caller.user.id}"
    await client.app[ARQ].enqueue_job("sync_insights", account.account_id, "lookback", _job_id=job_id)
    await run_worker_burst(stack)
    window = lookback_window(account_today(account.timezone_name), 28)
    synced_rows = [row for row in await stored_rows(db, account.account_id)
                   if window.since <= row["date"] <= window.until]  # fmt: skip
    assert synced_rows
    for row in synced_rows:
        assert row["conversions"] == Decimal(row["actions"].get(PIXEL_PURCHASE, 0))
        assert row["conversion_value"] == Decimal(row["action_values"].get(PIXEL_PURCHASE, 0))

    # back to the default precedence: the ground truth again, rows outside the sync window included
    response = await patch(client, caller, account.account_id, None)
    assert (await response.json())["conversions"]["action_types"] is None
    for row in await stored_rows(db, account.account_id):
        actions = {key: Decimal(value) for key, value in row["actions"].items()}
        assert row["conversions"] == actions.get("omni_purchase", 0) + actions.get("lead", 0)
    assert await assert_matches_ground_truth(db, synced["state"], account.id, window.since, window.until)


@pytest.mark.parametrize(
    ("types", "fragment"),
    [
        (["purchase", PIXEL_PURCHASE], "count the same conversions"),
        (["omni_purchase", "onsite_web_purchase"], "count the same conversions"),
        (["lead", "offsite_conversion.fb_pixel_lead"], "count the same conversions"),
        (["onsite_conversion.lead_grouped", "leadgen_grouped"], "count the same conversions"),
        (["purchase", "purchase"], "named twice"),
    ],
)
async def test_overlapping_types_are_refused_and_change_nothing(client, db, synced, types, fragment):
    account, caller = synced["accounts"][1], synced["caller"]
    before = await stored_rows(db, account.account_id)
    response = await patch(client, caller, account.account_id, types)
    assert response.status == 422
    body = await response.json()
    assert body["error"]["code"] == "invalid_conversion_types"
    assert any(fragment in detail["msg"] for detail in body["error"]["details"])
    assert await db.fetchval(
        "select conversion_action_types from ad_accounts where id = $1", account.account_id
    ) is None  # fmt: skip
    assert await stored_rows(db, account.account_id) == before


@pytest.mark.parametrize(
    "payload",
    [
        {"conversion_action_types": ["Purchase"]},
        {"conversion_action_types": ["purchase; drop table ad_accounts"]},
        {"conversion_action_types": []},
        {"conversion_action_types": "purchase"},
        {"conversion_action_types": [f"offsite_conversion.custom.{n}" for n in range(21)]},
        {"conversion_action_types": ["x" * 101]},
        {"conversion_action_types": None, "name": "renamed"},
        {},
    ],
)
async def test_bad_names_and_shapes_are_a_422(client, synced, payload):
    account, caller = synced["accounts"][1], synced["caller"]
    response = await client.patch(f"/api/v1/ad-accounts/{account.account_id}", json=payload, headers=caller.headers)
    assert response.status == 422, await response.text()
    assert (await response.json())["error"]["code"] == "validation_failed"


async def test_disjoint_and_custom_types_are_accepted(client, db, synced):
    account, caller = synced["accounts"][2], synced["caller"]
    types = ["leadgen_grouped", "offsite_conversion.fb_pixel_lead", "offsite_conversion.custom.42"]
    response = await patch(client, caller, account.account_id, types)
    assert response.status == 200, await response.text()
    for row in await stored_rows(db, account.account_id):
        assert row["conversions"] == Decimal(row["actions"].get("leadgen_grouped", 0))


async def test_viewers_analysts_and_strangers_cannot_change_the_setting(client, db, settings, synced):
    account = synced["accounts"][0]
    before = await stored_rows(db, account.account_id)
    refused: list[int] = []
    for role in ("viewer", "analyst"):
        member = await new_caller(client, db, settings)
        refused.append(member.user.id)
        await db.execute(
            "insert into ad_account_members (account_id, user_id, role) values ($1, $2, $3)",
            account.account_id, member.user.id, role,
        )  # fmt: skip
        response = await patch(client, member, account.account_id, [PIXEL_PURCHASE])
        assert response.status == 403, (role, await response.text())
        # they still see the setting in the account detail
        detail = await client.get(f"/api/v1/ad-accounts/{account.account_id}", headers=member.headers)
        assert (await detail.json())["conversions"]["action_types"] is None
    stranger = await new_caller(client, db, settings)
    refused.append(stranger.user.id)
    response = await patch(client, stranger, account.account_id, [PIXEL_PURCHASE])
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"
    unknown = await patch(client, synced["caller"], "123456789", [PIXEL_PURCHASE])
    assert unknown.status == 404
    assert await db.fetchval(
        "select conversion_action_types from ad_accounts where id = $1", account.account_id
    ) is None  # fmt: skip
    assert await stored_rows(db, account.account_id) == before
    audits = await db.fetchval(
        "select count(*) from audit_log where action = 'ad_account.conversion_types' and actor_id = any($1::bigint[])",
        refused,
    )  # fmt: skip
    assert audits == 0


async def test_a_setting_change_waits_for_an_ingest_step_in_flight(client, db, synced):
    """An ingest step reads the setting FOR SHARE in its transaction: the change (and its recount) waits until the
    step commits, so no step writes rows by a setting that was replaced under it."""
    account, caller = synced["accounts"][1], synced["caller"]
    async with db.transaction():
        assert await conversion_action_types_for_ingest(db, account_id=account.account_id) is None
        change = asyncio.create_task(patch(client, caller, account.account_id, ["offsite_conversion.fb_pixel_lead"]))
        await asyncio.sleep(0.5)
        assert not change.done()
    response = await asyncio.wait_for(change, timeout=30)
    assert response.status == 200, await response.text()
    assert (await response.json())["recounted_rows"] > 0


async def test_rules_judge_cpa_of_a_pixel_only_account(client, synced):
    """A rule's preview sees the CPA the pixel purchases give (with purchase + lead it was undefined: no match)."""
    account, caller, data = synced["accounts"][1], synced["caller"], synced["data"]
    today = account_today(account.timezone_name)
    truth = campaign_truth(synced, account, today - timedelta(days=14), today - timedelta(days=1))
    expected = {}
    for campaign_id in (c["id"] for c in data.objects(account.id, "campaign")):
        totals = sums(truth.get(campaign_id, []))
        if totals["conversions"]:
            expected[campaign_id] = totals["spend"] / totals["conversions"]
    assert expected, "the sandbox's pixel-only account needs a campaign with conversions"
    rule = {
        "account_id": account.account_id, "name": "Tell me CPAs",
        "scope": {"level": "campaign", "effective_statuses": ["ACTIVE", "PAUSED", "ARCHIVED", "DELETED"]},
        "conditions": {"all": [{"metric": "cpa", "window": "last_14d", "operator": "gt", "value": 0}]},
        "action": {"type": "notify"},
    }  # fmt: skip
    response = await client.post("/api/v1/automation/rules", json=rule, headers=caller.headers)
    assert response.status == 201, await response.text()
    rule_id = (await response.json())["id"]
    response = await client.post(f"/api/v1/automation/rules/{rule_id}/preview", headers=caller.headers)
    assert response.status == 200, await response.text()
    decisions = {d["object_id"]: d for d in (await response.json())["decisions"]}
    assert set(decisions) == set(expected)
    for campaign_id, cpa in expected.items():
        [check] = decisions[campaign_id]["checks"]
        assert abs(Decimal(str(check["value"])) - cpa) < Decimal("0.01"), (check, cpa)
    await client.delete(f"/api/v1/automation/rules/{rule_id}", headers=caller.headers)
