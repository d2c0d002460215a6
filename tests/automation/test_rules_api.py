"""Automation rules end to end against the sandbox: CRUD with validation, roles, tenancy and audit; preview and
backtest checked against sums computed here from the stored insights; runs that act at the sandbox once per key,
honour cooldowns, caps and Meta's four budget changes per hour, and can be reverted; the cron's scheduled runs; and
notify rules' webhook events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from accounts.helpers import new_caller, run_worker_burst
from arq import Retry
from arq.connections import ArqRedis
from automation.world import World, add_member

from adsvc.automation import runner
from adsvc.graph.agent import UPSTREAM
from adsvc.graph.errors import ErrorKind
from adsvc.keys import AGENTS, BREAKERS, PG
from jobs.rules import run_scheduled_rule, schedule_due_rules

RULES = "/api/v1/automation/rules"


async def active_campaign_ctrs(world: World, since_days: int = 7) -> dict[str, tuple[Decimal, Decimal]]:
    """CTR (%) and spend of every ACTIVE campaign over the `since_days` days before the account's today."""
    rows = await world.db.fetch(
        """
        with t as (select (now() at time zone timezone_name)::date as today from ad_accounts where id = $1)
        select c.id, round(sum(i.clicks) * 100.0 / nullif(sum(i.impressions), 0), 6) as ctr,
               coalesce(sum(i.spend), 0) as spend
        from campaigns c cross join t
        left join insights_daily i on i.level = 'campaign' and i.object_id = c.id
             and i.date between t.today - $2::int and t.today - 1
        where c.account_id = $1 and c.effective_status = 'ACTIVE'
        group by c.id
        """,
        world.account_id,
        since_days,
    )
    return {row["id"]: (row["ctr"], row["spend"]) for row in rows if row["ctr"] is not None}


def between(values: list[Decimal]) -> float:
    """A threshold strictly between the lower half and the upper half of the values."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return float((ordered[middle - 1] + ordered[middle]) / 2)


def pause_rule(world: World, threshold: float, **overrides: Any) -> dict[str, Any]:
    return {
        "account_id": world.account_id,
        "name": "Pause low CTR",
        "scope": {"level": "campaign"},
        "conditions": {"all": [{"metric": "ctr", "window": "last_7d", "operator": "lt", "value": threshold}]},
        "action": {"type": "pause"},
        **overrides,
    }


async def create(world: World, body: dict[str, Any], caller: Any = None) -> dict[str, Any]:
    response = await world.post(RULES, caller, json=body)
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def call(world: World, rule_id: int, verb: str, caller: Any = None, **kwargs: Any) -> Any:
    return await world.post(f"{RULES}/{rule_id}/{verb}", caller, **kwargs)


async def test_crud_validates_audits_and_keeps_tenants_apart(world, settings):
    rule = await create(world, pause_rule(world, 1.0, min_spend=20))
    assert rule["version"] == 1 and rule["enabled"] and rule["next_run_at"] is not None
    assert rule["schedule"] == {"type": "interval", "every_minutes": 60} and rule["cooldown_minutes"] == 1440
    got = await world.client.get(f"{RULES}/{rule['id']}", headers=world.owner.headers)
    assert (await got.json()) == rule

    response = await world.client.patch(
        f"{RULES}/{rule['id']}", headers=world.owner.headers,
        json={"name": "Pause weak", "schedule": {"type": "daily", "at": "08:30"}, "min_spend": 5},
    )  # fmt: skip
    assert response.status == 200, await response.text()
    patched = await response.json()
    assert (patched["name"], patched["version"], patched["min_spend"]) == ("Pause weak", 2, 5.0)
    assert patched["next_run_at"] != rule["next_run_at"] and patched["conditions"] == rule["conditions"]
    # a patch that makes the whole rule invalid is refused, and changes nothing
    response = await world.client.patch(
        f"{RULES}/{rule['id']}", headers=world.owner.headers, json={"scope": {"level": "account"}}
    )
    assert response.status == 422
    error = (await response.json())["error"]
    assert "account-level rule can only notify" in error["details"][0]["msg"]
    response = await world.client.patch(f"{RULES}/{rule['id']}", headers=world.owner.headers, json={"action": None})
    assert response.status == 422
    disabled = await world.client.patch(f"{RULES}/{rule['id']}", headers=world.owner.headers, json={"enabled": False})
    assert (await disabled.json())["next_run_at"] is None

    # bad bodies: a clear 422 naming the field
    bad = await world.post(RULES, json={**pause_rule(world, 1.0), "action": {"type": "explode"}})
    assert bad.status == 422 and (await bad.json())["error"]["details"][0]["loc"][0] == "action"
    bad = await world.post(RULES, json={**pause_rule(world, 1.0), "conditions": {"all": []}})
    assert bad.status == 422
    # an account the caller is not a member of names nothing: 404, as for any other id
    bad = await world.post(RULES, json={**pause_rule(world, 1.0), "account_id": "act_999999999"})
    assert bad.status == 404

    viewer = await add_member(world, settings, "viewer")
    stranger = await new_caller(world.client, world.db, settings)
    assert (await world.post(RULES, viewer, json=pause_rule(world, 1.0))).status == 403
    assert (await world.post(RULES, stranger, json=pause_rule(world, 1.0))).status == 404
    assert (await world.client.patch(f"{RULES}/{rule['id']}", headers=viewer.headers, json={"name": "x"})).status == 403
    assert (await call(world, rule["id"], "run", viewer)).status == 403
    assert (await call(world, rule["id"], "preview", viewer)).status == 200  # reading is for every member
    for verb in ("preview", "run"):
        assert (await call(world, rule["id"], verb, stranger)).status == 404
    assert (await world.client.get(f"{RULES}/{rule['id']}", headers=stranger.headers)).status == 404
    listed = await world.client.get(RULES, headers=stranger.headers)
    assert (await listed.json())["data"] == []
    listed = await world.client.get(RULES, params={"account_id": world.account_id}, headers=viewer.headers)
    assert [r["id"] for r in (await listed.json())["data"]] == [rule["id"]]

    response = await world.client.delete(f"{RULES}/{rule['id']}", headers=world.owner.headers)
    assert response.status == 200 and (await response.json()) == {"id": rule["id"], "deleted": True}
    assert (await world.client.get(f"{RULES}/{rule['id']}", headers=world.owner.headers)).status == 404
    assert (await world.client.delete(f"{RULES}/{rule['id']}", headers=world.owner.headers)).status == 404
    audit = await world.db.fetch(
        "select action, actor_id, before, after from audit_log where target_type = 'rule' and target_id = $1 "
        "order by id",
        str(rule["id"]),
    )
    assert [a["action"] for a in audit] == ["rule.create", "rule.update", "rule.update", "rule.delete"]
    assert all(a["actor_id"] == world.owner.user.id for a in audit)
    assert audit[1]["before"]["name"] == "Pause low CTR" and audit[1]["after"]["name"] == "Pause weak"
    assert audit[1]["after"]["spec"]["schedule"] == {"type": "daily", "at": "08:30"}


async def test_preview_matches_the_stored_sums_and_changes_nothing(world):
    ctrs = await active_campaign_ctrs(world)
    assert len(ctrs) >= 3, "the sandbox needs a few active campaigns with traffic"
    threshold = between([ctr for ctr, _ in ctrs.values()])
    expected = {cid for cid, (ctr, _) in ctrs.items() if ctr < Decimal(str(threshold))}
    rule = await create(world, pause_rule(world, threshold))
    writes = world.writes

    response = await call(world, rule["id"], "preview")
    assert response.status == 200, await response.text()
    preview = await response.json()
    assert preview["evaluated"] == await world.db.fetchval(
        "select count(*) from campaigns where account_id = $1 and effective_status = 'ACTIVE'", world.account_id
    )
    assert {d["object_id"] for d in preview["decisions"]} == expected and preview["matched"] == len(expected)
    for decision in preview["decisions"]:
        [check] = decision["checks"]
        assert Decimal(str(check["value"])) == ctrs[decision["object_id"]][0] and check["passed"]
        assert decision["plan"] == {
            "field": "status", "before": "ACTIVE", "after": "PAUSED", "currency": decision["plan"]["currency"]
        }  # fmt: skip
        assert decision["refusal"] is None and decision["why"].startswith("ctr last_7d ")
    assert world.writes == writes
    assert await world.db.fetchval("select count(*) from actions where account_id = $1", world.account_id) == 0

    # a minimum spend above everyone's spend leaves nothing to judge
    top_spend = max(spend for _, spend in ctrs.values())
    more = {"min_spend": float(top_spend) + 1}
    await world.client.patch(f"{RULES}/{rule['id']}", headers=world.owner.headers, json=more)
    assert (await (await call(world, rule["id"], "preview")).json())["matched"] == 0


async def test_run_acts_at_the_sandbox_once_per_key_and_records_everything(world):
    ctrs = await active_campaign_ctrs(world)
    threshold = between([ctr for ctr, _ in ctrs.values()])
    expected = {cid for cid, (ctr, _) in ctrs.items() if ctr < Decimal(str(threshold))}
    rule = await create(world, pause_rule(world, threshold))
    writes = world.writes

    headers = {"Idempotency-Key": "run-once-1"}
    first = await call(world, rule["id"], "run", headers=headers)
    assert first.status == 200, await first.text()
    run = await first.json()
    assert (run["status"], run["trigger"], run["applied"], run["refused"], run["failed"]) == (
        "succeeded", "manual", len(expected), 0, 0
    )  # fmt: skip
    assert {r["object_id"] for r in run["results"]} == expected and not run["replayed"]
    assert world.writes == writes + len(expected)
    for campaign_id in expected:
        assert world.node(campaign_id).status == "PAUSED"
    actions = await world.db.fetch(
        "select object_id, before_value, after_value, status, source, source_id, requested_by from actions "
        "where account_id = $1",
        world.account_id,
    )
    assert {a["object_id"] for a in actions} == expected
    assert all(
        (a["before_value"], a["after_value"], a["status"], a["source"], a["source_id"], a["requested_by"])
        == ("ACTIVE", "PAUSED", "applied", "rule", str(rule["id"]), world.owner.user.id)
        for a in actions
    )
    assert all(r["action"]["status"] == "applied" for r in run["results"])

    # the same key again: the same run, nothing sent
    again = await (await call(world, rule["id"], "run", headers=headers)).json()
    assert again["id"] == run["id"] and again["replayed"] and world.writes == writes + len(expected)
    # a new run: the paused campaigns left the scope (ACTIVE only), so it matches none of them
    fresh = await (await call(world, rule["id"], "run")).json()
    assert fresh["id"] != run["id"] and not {r["object_id"] for r in fresh["results"]} & expected
    assert world.writes == writes + len(expected) + fresh["applied"]

    runs = await (await world.client.get(f"{RULES}/{rule['id']}/runs", headers=world.owner.headers)).json()
    assert [r["id"] for r in runs["data"]] == [fresh["id"], run["id"]]
    audit = await world.db.fetch(
        "select details from audit_log where action = 'rule.run' and target_id = $1 order by id", str(rule["id"])
    )
    assert [a["details"]["run_id"] for a in audit] == [run["id"], fresh["id"]]
    applied_audits = await world.db.fetchval(
        "select count(*) from audit_log where action = 'action.apply' and details->>'source_id' = $1", str(rule["id"])
    )
    assert applied_audits == len(expected) + fresh["applied"]


async def budget_rule(world: World, action: Callable[[int], dict[str, Any]]) -> tuple[dict[str, Any], str, int]:
    """A rule changing one active campaign's daily budget (`action(its budget)`) whenever it had impressions in the
    last 7 days, with no cooldown."""
    campaign_id, budget = await world.db.fetchrow(
        """
        select id, daily_budget from campaigns
        where account_id = $1 and effective_status = 'ACTIVE' and daily_budget is not null
        order by id limit 1
        """,
        world.account_id,
    )
    rule = await create(
        world,
        {
            "account_id": world.account_id,
            "name": "Scale",
            "scope": {"level": "campaign", "object_ids": [campaign_id]},
            "conditions": {"all": [{"metric": "impressions", "window": "last_7d", "operator": "gt", "value": 0}]},
            "action": {"type": "change_budget", **action(budget)},
            "cooldown_minutes": 0,
        },
    )
    return rule, campaign_id, budget


async def test_budget_rule_respects_caps_the_hourly_limit_and_reverts_exactly(world):
    rule, campaign_id, original = await budget_rule(world, lambda budget: {"percent": 10,
                                                                         "max_budget": int(budget * 1.35)})  # fmt: skip
    assert world.node(campaign_id).daily_budget == original
    budgets = [original]
    for _ in range(4):
        run = await (await call(world, rule["id"], "run")).json()
        assert run["applied"] == 1, run
        budgets.append(world.node(campaign_id).daily_budget)
    cap = int(original * 1.35)
    expected = [original]
    for _ in range(4):
        expected.append(min(int((Decimal(expected[-1]) * Decimal("1.1")).to_integral_value("ROUND_HALF_UP")), cap))
    assert budgets == expected and budgets[-1] == cap  # the cap holds the fourth raise
    writes = world.writes

    # the fifth change within the hour is refused before Meta is called
    await world.client.patch(f"{RULES}/{rule['id']}", headers=world.owner.headers,
                             json={"action": {"type": "change_budget", "percent": -10}})  # fmt: skip
    fifth = await (await call(world, rule["id"], "run")).json()
    assert (fifth["status"], fifth["applied"], fifth["refused"]) == ("succeeded", 0, 1)
    assert fifth["results"][0]["refusal"]["code"] == "budget_change_limit" and world.writes == writes

    # a revert is a budget change too: refused the same way until the hour frees up
    first_action = await world.db.fetchval(
        "select id from actions where object_id = $1 and source = 'rule' order by id limit 1", campaign_id
    )
    response = await world.post(f"/api/v1/automation/actions/{first_action}/revert")
    assert response.status == 409 and (await response.json())["error"]["code"] == "budget_change_limit"
    assert world.writes == writes


async def test_a_rules_budget_change_reverts_to_exactly_the_sandboxs_previous_budget(world):
    rule, campaign_id, original = await budget_rule(world, lambda budget: {"percent": -25})
    run = await (await call(world, rule["id"], "run")).json()
    [result] = run["results"]
    assert result["plan"] == {"field": "daily_budget", "before": str(original),
                              "after": str(round(original * 0.75)), "currency": result["plan"]["currency"]}  # fmt: skip
    assert world.node(campaign_id).daily_budget == round(original * 0.75)
    response = await world.post(f"/api/v1/automation/actions/{result['action']['id']}/revert")
    assert response.status == 200, await response.text()
    revert = await response.json()
    assert (revert["before_value"], revert["after_value"], revert["reverts_action_id"]) == (
        str(round(original * 0.75)), str(original), result["action"]["id"]
    )  # fmt: skip
    assert world.node(campaign_id).daily_budget == original
    assert await world.db.fetchval("select daily_budget from campaigns where id = $1", campaign_id) == original


async def test_cooldown_keeps_a_rule_off_an_object_it_just_changed(world):
    rule, campaign_id, original = await budget_rule(world, lambda budget: {"amount": budget * 3})
    await world.client.patch(f"{RULES}/{rule['id']}", headers=world.owner.headers, json={"cooldown_minutes": 120})
    first = await (await call(world, rule["id"], "run")).json()
    assert first["applied"] == 1 and world.node(campaign_id).daily_budget == original * 3
    # someone changes the budget back by hand at Meta and in our store; the rule stays away during its cooldown
    await world.db.execute("update campaigns set daily_budget = $2 where id = $1", campaign_id, original)
    writes = world.writes
    second = await (await call(world, rule["id"], "run")).json()
    assert (second["applied"], second["refused"]) == (0, 1)
    assert second["results"][0]["refusal"]["code"] == "cooldown" and world.writes == writes
    preview = await (await call(world, rule["id"], "preview")).json()
    assert preview["decisions"][0]["refusal"]["code"] == "cooldown" and preview["decisions"][0]["plan"] is None


async def test_backtest_days_agree_with_the_stored_history(world):
    ctrs = await active_campaign_ctrs(world, since_days=3)
    threshold = between([ctr for ctr, _ in ctrs.values()])
    rule = await create(
        world,
        pause_rule(
            world, threshold, min_spend=1,
            conditions={"all": [{"metric": "ctr", "window": "last_3d", "operator": "lt", "value": threshold}]},
        ),
    )  # fmt: skip
    response = await call(world, rule["id"], "backtest", json={})
    assert response.status == 200, await response.text()
    result = await response.json()
    since, until = date.fromisoformat(result["since"]), date.fromisoformat(result["until"])
    assert (until - since).days == 29 and len(result["days"]) == 30 and result["actions"] >= 1
    assert result["evaluated_objects"] == await world.db.fetchval(
        "select count(*) from campaigns where account_id = $1 and effective_status = 'ACTIVE'", world.account_id
    )

    async def ctr_and_spend(campaign_id: str, day: date) -> tuple[Decimal | None, Decimal]:
        row = await world.db.fetchrow(
            """select round(sum(clicks) * 100.0 / nullif(sum(impressions), 0), 6) as ctr,
                      coalesce(sum(spend), 0) as spend
               from insights_daily where level = 'campaign' and object_id = $1 and date between $2 and $3""",
            campaign_id, day - timedelta(days=3), day - timedelta(days=1),
        )  # fmt: skip
        return row["ctr"], row["spend"]

    paused_on: dict[str, date] = {}
    for day in result["days"]:
        for action in day["actions"]:
            when = date.fromisoformat(day["date"])
            ctr, spend = await ctr_and_spend(action["object_id"], when)
            assert ctr is not None and ctr < Decimal(str(threshold)) and spend >= 1
            assert action["object_id"] not in paused_on, "a paused campaign is not paused again"
            paused_on[action["object_id"]] = when
            spent_later = await world.db.fetchval(
                "select coalesce(sum(spend), 0) from insights_daily where level = 'campaign' and object_id = $1 "
                "and date > $2 and date <= $3",
                action["object_id"], when, until,
            )  # fmt: skip
            assert Decimal(str(action["spend_after"] or 0)) == spent_later
    # before its pause day (and for campaigns never paused, on every day) the rule did not hold
    for campaign_id in ctrs:
        last = paused_on.get(campaign_id, until + timedelta(days=1))
        day = since
        while day < last:
            ctr, spend = await ctr_and_spend(campaign_id, day)
            assert ctr is None or ctr >= Decimal(str(threshold)) or spend < 1, (campaign_id, day)
            day += timedelta(days=1)
    assert result["spend_after_pauses"] == float(sum(Decimal(str(a["spend_after"] or 0))
                                                     for d in result["days"] for a in d["actions"]))  # fmt: skip
    bad = await call(world, rule["id"], "backtest", json={"since": "2026-01-10", "until": "2026-01-01"})
    assert bad.status == 422 and (await bad.json())["error"]["code"] == "invalid_period"


async def test_the_cron_runs_due_rules_once_per_slot(world, stack):
    ctrs = await active_campaign_ctrs(world)
    threshold = between([ctr for ctr, _ in ctrs.values()])
    expected = {cid for cid, (ctr, _) in ctrs.items() if ctr < Decimal(str(threshold))}
    rule = await create(world, pause_rule(world, threshold, schedule={"type": "interval", "every_minutes": 15}))
    await world.db.execute(
        "update automation_rules set next_run_at = now() - interval '1 minute' where id = $1", rule["id"]
    )
    slot = await world.db.fetchval("select next_run_at from automation_rules where id = $1", rule["id"])
    queue = ArqRedis.from_url(stack.redis_url)
    try:
        ctx = {"pg": world.client.app[PG], "redis": queue}
        assert (await schedule_due_rules(ctx))["queued"] == [rule["id"]]
        assert (await schedule_due_rules(ctx))["queued"] == []  # not due any more
        following = await world.db.fetchval("select next_run_at from automation_rules where id = $1", rule["id"])
        assert following == slot + timedelta(minutes=15)
        writes = world.writes
        await run_worker_burst(stack)
        [run] = await world.db.fetch("select * from rule_runs where rule_id = $1", rule["id"])
        assert (run["trigger"], run["status"], run["applied"], run["requested_by"]) == (
            "schedule", "succeeded", len(expected), None
        )  # fmt: skip
        assert world.writes == writes + len(expected)
        # arq delivers at least once: the same slot again finds its run and sends nothing
        again = await run_scheduled_rule(
            {"pg": world.client.app[PG], "redis": queue, "agents": None}, rule["id"], slot.isoformat()
        )
        assert again["replayed"] and again["run_id"] == run["id"] and world.writes == writes + len(expected)
    finally:
        await queue.aclose()


async def test_notify_rules_deliver_a_signed_rule_triggered_event_and_touch_nothing(world, receiver, stack):
    ctrs = await active_campaign_ctrs(world)
    threshold = between([ctr for ctr, _ in ctrs.values()])
    expected = {cid for cid, (ctr, _) in ctrs.items() if ctr < Decimal(str(threshold))}
    webhook = await world.post(
        "/api/v1/webhooks",
        json={"url": receiver.url, "events": ["rule.triggered"], "account_id": world.account_id, "format": "slack"},
    )
    assert webhook.status == 201, await webhook.text()
    receiver.secret = (await webhook.json())["secret"]
    rule = await create(world, pause_rule(world, threshold, action={"type": "notify", "message": "check these"}))
    writes = world.writes
    run = await (await call(world, rule["id"], "run")).json()
    assert (run["status"], run["applied"], run["matched"]) == ("succeeded", 0, len(expected)) and world.writes == writes
    event = await world.db.fetchrow("select event, data from webhook_events where id like 'rule.triggered:%'")
    assert event["event"] == "rule.triggered" and event["data"]["message"] == "check these"
    assert {o["object_id"] for o in event["data"]["objects"]} == expected
    await run_worker_burst(stack)
    [hit] = receiver.received
    assert hit.signature_ok
    message = orjson.loads(hit.body)
    assert f"Rule 'Pause low CTR' matched {len(expected)} object(s)" in message["text"]
    assert "check these" in message["text"]


async def test_the_pause_underperforming_preset_picks_what_the_older_endpoint_picks(world):
    listed = await world.client.get("/api/v1/automation/rule-presets", headers=world.owner.headers)
    assert listed.status == 200
    presets = {p["key"]: p for p in (await listed.json())["data"]}
    assert set(presets) == {"pause-underperforming", "optimize-budgets-raise", "optimize-budgets-lower"}
    rule = await create(world, {**presets["pause-underperforming"]["spec"], "account_id": world.account_id,
                                "name": "From the preset"})  # fmt: skip
    preview = await (await call(world, rule["id"], "preview")).json()
    legacy = await (await world.post("/api/v1/automation/pause-underperforming",
                                     json={"account_id": world.account_id})).json()  # fmt: skip
    assert legacy["total"] >= 1
    assert {d["object_id"] for d in preview["decisions"]} == {s["object_id"] for s in legacy["suggestions"]}
    for key in ("optimize-budgets-raise", "optimize-budgets-lower"):
        created = await create(world, {**presets[key]["spec"], "account_id": world.account_id, "name": key})
        assert (await call(world, created["id"], "preview")).status == 200


async def test_a_run_for_an_account_we_cannot_act_for_is_recorded_as_failed(world):
    ctrs = await active_campaign_ctrs(world)
    rule = await create(world, pause_rule(world, between([ctr for ctr, _ in ctrs.values()])))
    saved = await world.db.fetchval("select token_ciphertext from ad_accounts where id = $1", world.account_id)
    world.client.app[AGENTS].invalidate(world.account_id)
    await world.db.execute("update ad_accounts set token_ciphertext = 'not a sealed token' where id = $1",
                           world.account_id)  # fmt: skip
    try:
        writes = world.writes
        response = await call(world, rule["id"], "run")
        # nothing could be done at Meta: the caller gets the error, and the failed run is recorded all the same
        assert response.status == 422 and (await response.json())["error"]["code"] == "meta_token_unreadable"
        runs = await (await world.client.get(f"{RULES}/{rule['id']}/runs", headers=world.owner.headers)).json()
        [run] = runs["data"]
        assert run["status"] == "failed" and run["applied"] == 0 and run["failed"] >= 1
        assert "could not act for the account" in run["error"] and world.writes == writes
        assert run["results"][0]["refusal"]["code"] == "failed"
        assert all(r["refusal"]["code"] == "not_attempted" for r in run["results"][1:])
        assert await world.db.fetchval("select count(*) from actions where account_id = $1", world.account_id) == 0
        audit = await world.db.fetchrow(
            "select outcome, details from audit_log where action = 'rule.run' and target_id = $1", str(rule["id"])
        )
        assert audit["outcome"] == "failure" and audit["details"]["status"] == "failed"
    finally:
        await world.db.execute("update ad_accounts set token_ciphertext = $2 where id = $1", world.account_id, saved)
        world.client.app[AGENTS].invalidate(world.account_id)


async def test_a_change_from_a_run_that_died_still_holds_the_cooldown(world):
    rule, campaign_id, original = await budget_rule(world, lambda budget: {"percent": 10})
    await world.client.patch(f"{RULES}/{rule['id']}", headers=world.owner.headers, json={"cooldown_minutes": 60})
    # what a run leaves when its process dies after Meta answered and before the run finished: an applied action
    # and no cooldown row
    await world.db.execute(
        """insert into actions (account_id, object_type, object_id, field, before_value, after_value, status, source,
                                source_id, idempotency_key, applied_at)
           values ($1, 'campaign', $2, 'daily_budget', $3, $3, 'applied', 'rule', $4, 'died-run', now())""",
        world.account_id, campaign_id, str(original), str(rule["id"]),
    )  # fmt: skip
    assert await world.db.fetchval("select count(*) from rule_cooldowns where rule_id = $1", rule["id"]) == 0
    writes = world.writes
    run = await (await call(world, rule["id"], "run")).json()
    assert (run["applied"], run["refused"]) == (0, 1) and run["results"][0]["refusal"]["code"] == "cooldown"
    assert world.writes == writes


async def test_a_backtest_too_large_for_one_request_is_refused_with_the_way_out(world, monkeypatch):
    rule = await create(world, pause_rule(world, 1.0))
    monkeypatch.setattr(runner, "MAX_BACKTEST_OBJECT_DAYS", 10)
    response = await call(world, rule["id"], "backtest", json={})
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "invalid_period" and "narrow the scope or the period" in error["message"]


async def test_a_run_while_metas_circuit_is_open_answers_503_at_once_and_records_the_run(world, settings):
    ctrs = await active_campaign_ctrs(world)
    rule = await create(world, pause_rule(world, between([ctr for ctr, _ in ctrs.values()])))
    breaker = world.client.app[BREAKERS].get(UPSTREAM, world.account_id)
    for _ in range(settings.breaker_failure_threshold):
        breaker.record_failure(ErrorKind.TRANSIENT)
    writes = world.writes
    response = await call(world, rule["id"], "run")
    assert response.status == 503 and int(response.headers["Retry-After"]) >= 1
    assert world.writes == writes
    runs = await (await world.client.get(f"{RULES}/{rule['id']}/runs", headers=world.owner.headers)).json()
    [run] = runs["data"]
    assert run["status"] == "failed" and run["applied"] == 0 and "could not act for the account" in run["error"]
    assert {r["refusal"]["code"] for r in run["results"]} <= {"failed", "not_attempted"}


async def test_a_scheduled_run_meta_sheds_is_retried_as_a_new_run_of_its_slot(world, stack, settings):
    ctrs = await active_campaign_ctrs(world)
    threshold = between([ctr for ctr, _ in ctrs.values()])
    expected = {cid for cid, (ctr, _) in ctrs.items() if ctr < Decimal(str(threshold))}
    rule = await create(world, pause_rule(world, threshold))
    breaker = world.client.app[BREAKERS].get(UPSTREAM, world.account_id)
    for _ in range(settings.breaker_failure_threshold):
        breaker.record_failure(ErrorKind.TRANSIENT)
    queue = ArqRedis.from_url(stack.redis_url)
    ctx = {"pg": world.client.app[PG], "redis": queue, "agents": world.client.app[AGENTS], "job_try": 1}
    slot = "2026-11-22T09:00:00+00:00"
    try:
        with pytest.raises(Retry):
            await run_scheduled_rule(ctx, rule["id"], slot)
        breaker.record_success()
        writes = world.writes
        done = await run_scheduled_rule({**ctx, "job_try": 2}, rule["id"], slot)
        assert (done["status"], done["applied"], done["replayed"]) == ("succeeded", len(expected), False)
        assert world.writes == writes + len(expected)
        keys = await world.db.fetch("select run_key, status from rule_runs where rule_id = $1 order by id", rule["id"])
        assert [(k["run_key"], k["status"]) for k in keys] == [
            (f"schedule:{rule['id']}:{slot}", "failed"), (f"schedule:{rule['id']}:{slot}:retry1", "succeeded")
        ]  # fmt: skip
        # delivered once more: the slot's successful run is found, nothing is sent
        again = await run_scheduled_rule({**ctx, "job_try": 3}, rule["id"], slot)
        assert again["replayed"] and again["run_id"] == done["run_id"] and world.writes == writes + len(expected)
    finally:
        await queue.aclose()


async def test_a_create_retried_with_its_idempotency_key_finds_the_first_rule(world, settings):
    body = pause_rule(world, 1.0)
    key = {"Idempotency-Key": "create-rule-1"}
    first = await world.post(RULES, json=body, headers=key)
    again = await world.post(RULES, json=body, headers=key)
    assert first.status == again.status == 201, await again.text()
    assert (await first.json()) == (await again.json()) and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    rule_id = (await first.json())["id"]
    assert await world.db.fetchval("select count(*) from automation_rules where account_id = $1", world.account_id) == 1
    assert (
        await world.db.fetchval(
            "select count(*) from audit_log where action = 'rule.create' and target_id = $1", str(rule_id)
        )
        == 1
    )
    # the same key with another body is a client error, not a silent replay
    other = await world.post(RULES, json={**body, "name": "Another"}, headers=key)
    assert other.status == 422 and (await other.json())["error"]["code"] == "idempotency_key_reused"
    # keys belong to their user: a manager's same key creates the manager's own rule
    manager = await add_member(world, settings, "manager")
    theirs = await world.post(RULES, manager, json=body, headers=key)
    assert theirs.status == 201 and (await theirs.json())["id"] != rule_id
    await world.client.delete(f"{RULES}/{rule_id}", headers=world.owner.headers)
    gone = await world.post(RULES, json=body, headers=key)
    assert gone.status == 409 and (await gone.json())["error"]["code"] == "idempotency_key_used"
    bad = await world.post(RULES, json=body, headers={"Idempotency-Key": "sp ace"})
    assert bad.status == 422 and (await bad.json())["error"]["code"] == "invalid_idempotency_key"
