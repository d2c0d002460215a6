"""The rules pages over HTTP against the sandbox: the rendered forms submitted as a browser would create and edit
rules exactly as the JSON API stores them (audited, once per rendered form), field errors from the API's own models,
enable/disable, preview and backtest showing the API's numbers, run now acting at the sandbox once, throttles as 429
pages, and other users' rules as 404 pages."""

from __future__ import annotations

import re
from html import unescape

import redis as redis_sync
from automation.world import add_member
from multidict import MultiDict
from pages.acting import form_fields, form_page, graph_sandbox, settings, stranger, submit, worker_env, world
from pages.helpers import page, sign_in

__all__ = ["graph_sandbox", "settings", "stranger", "worker_env", "world"]

RULES = "/api/v1/automation/rules"


def pause_rule(world, threshold: float = 1.0, **overrides):
    return {
        "account_id": world.account_id,
        "name": "Pause low CTR",
        "scope": {"level": "campaign"},
        "conditions": {"all": [{"metric": "ctr", "window": "last_7d", "operator": "lt", "value": threshold}]},
        "action": {"type": "pause"},
        **overrides,
    }


async def api_rule(world, body) -> dict:
    response = await world.post(RULES, json=body)
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def new_form(world, path: str = "/rules/new") -> MultiDict:
    status, html = await page(world.client, path)
    assert status == 200, html
    fields = form_fields(html, "/rules/new")
    fields["_csrf"] = world.csrf
    return fields


async def post_form(client, path: str, fields: MultiDict):
    return await client.post(path, data=fields, allow_redirects=False)


def _given(fields: dict) -> dict:
    return {key: value for key, value in fields.items() if value is not None}


def _rule_id(response) -> int:
    found = re.fullmatch(r"/rules/(\d+)\?done=\w+", response.headers["Location"])
    assert found, response.headers["Location"]
    return int(found.group(1))


async def test_a_rule_created_from_the_form_is_the_rule_the_api_would_store_once_per_form(world):
    fields = await new_form(world)
    fields.update({"name": "Raise winners", "level": "campaign", "combinator": "any", "cond_0_metric": "ctr",
                   "cond_0_window": "last_14d", "cond_0_operator": "gte", "cond_0_value": "2,5",
                   "cond_1_metric": "roas", "cond_1_window": "last_7d", "cond_1_operator": "gt", "cond_1_value": "3",
                   "min_spend": "15", "action_type": "change_budget", "action_percent": "20",
                   "action_max_budget": "500,00", "cooldown_minutes": "720", "schedule_type": "daily",
                   "schedule_at": "08:30"})  # fmt: skip
    fields.add("schedule_weekdays", "1")
    fields.add("schedule_weekdays", "5")
    first = await post_form(world.client, "/rules/new", fields)
    assert first.status == 303, await first.text()
    second = await post_form(world.client, "/rules/new", fields)  # the same form submitted twice
    assert second.status == 303 and second.headers["Location"] == first.headers["Location"]
    rule_id = _rule_id(first)
    assert await world.db.fetchval("select count(*) from automation_rules where account_id = $1",
                                   world.account_id) == 1  # fmt: skip
    stored = await (await world.client.get(f"{RULES}/{rule_id}", headers=world.owner.headers)).json()
    assert stored["name"] == "Raise winners" and stored["enabled"] is True
    assert _given(stored["scope"]) == {"level": "campaign"}
    assert stored["conditions"] == {"any": [
        {"metric": "ctr", "window": "last_14d", "operator": "gte", "value": 2.5},
        {"metric": "roas", "window": "last_7d", "operator": "gt", "value": 3.0},
    ]}  # fmt: skip
    # 500,00 in the account currency is 50000 minor units, as the API takes budgets
    assert stored["action"] == {"type": "change_budget", "percent": 20.0, "min_budget": None, "max_budget": 50000}
    assert stored["schedule"] == {"type": "daily", "at": "08:30", "weekdays": [1, 5]}
    assert (stored["min_spend"], stored["cooldown_minutes"]) == (15.0, 720)
    audit = await world.db.fetch("select action, actor_id from audit_log where target_type = 'rule' and target_id = $1",
                                 str(rule_id))  # fmt: skip
    assert [(a["action"], a["actor_id"]) for a in audit] == [("rule.create", world.owner.user.id)]
    status, html = await page(world.client, first.headers["Location"])
    assert status == 200 and "The rule was created." in html and "Raise winners" in html


async def test_a_rule_from_a_preset_keeps_the_presets_nested_conditions(world):
    presets = await (await world.client.get("/api/v1/automation/rule-presets", headers=world.owner.headers)).json()
    _status, html = await page(world.client, "/rules/new")
    for preset in presets["data"]:
        assert f'href="/rules/new?preset={preset["key"]}"' in html and preset["name"] in unescape(html)
    raise_ = next(p for p in presets["data"] if p["key"] == "optimize-budgets-raise")
    fields = await new_form(world, "/rules/new?preset=optimize-budgets-raise")
    assert fields["name"] == raise_["name"]
    response = await post_form(world.client, "/rules/new", fields)
    assert response.status == 303, await response.text()
    stored = await (await world.client.get(f"{RULES}/{_rule_id(response)}", headers=world.owner.headers)).json()
    for key in ("scope", "conditions", "min_spend", "action", "cooldown_minutes", "schedule"):
        assert stored[key] == raise_["spec"][key], key


async def test_the_form_shows_the_api_models_errors_next_to_the_fields_and_stores_nothing(world):
    fields = await new_form(world)
    fields.update({"name": "Broken", "cond_0_value": "lots", "schedule_type": "interval",
                   "schedule_every_minutes": "5", "action_type": "change_budget", "action_percent": "10",
                   "action_amount": "50"})  # fmt: skip
    response = await post_form(world.client, "/rules/new", fields)
    assert response.status == 422
    html = await response.text()
    for field in ("cond_0_value", "schedule_every_minutes", "action_type"):
        assert f'id="{field}-error"' in html, field
    assert re.search(r'id="schedule_every_minutes-error">[^<]*15', html)
    assert 'value="Broken"' in html  # what was typed is kept
    # an account-level rule can only notify: the API model's rule, next to the level
    fields = await new_form(world)
    fields.update({"name": "Account pause", "level": "account", "action_type": "pause"})
    response = await post_form(world.client, "/rules/new", fields)
    body = await response.text()
    assert response.status == 422 and "can only notify" in body, re.findall(r"error[^>]*>[^<]*<", body)
    assert await world.db.fetchval("select count(*) from automation_rules where account_id = $1", world.account_id) == 0


async def test_editing_a_rule_changes_it_as_the_api_patch_does(world):
    rule = await api_rule(world, pause_rule(world, 1.0, min_spend=20))
    status, html = await page(world.client, f"/rules/{rule['id']}/edit")
    assert status == 200
    fields = form_fields(html, f"/rules/{rule['id']}/edit")
    assert fields["cond_0_metric"] == "ctr" and fields["cond_0_value"] == "1"
    fields.update({"_csrf": world.csrf, "name": "Pause weak", "cond_0_value": "0.8", "schedule_type": "daily",
                   "schedule_at": "07:00"})  # fmt: skip
    response = await post_form(world.client, f"/rules/{rule['id']}/edit", fields)
    assert response.status == 303 and response.headers["Location"] == f"/rules/{rule['id']}?done=updated"
    stored = await (await world.client.get(f"{RULES}/{rule['id']}", headers=world.owner.headers)).json()
    assert (stored["name"], stored["version"], stored["min_spend"]) == ("Pause weak", 2, 20.0)
    assert stored["conditions"]["all"][0]["value"] == 0.8 and _given(stored["schedule"]) == {
        "type": "daily",
        "at": "07:00",
    }
    audit = await world.db.fetch("select action, before, after from audit_log where target_type = 'rule' "
                                 "and target_id = $1 order by id", str(rule["id"]))  # fmt: skip
    assert [a["action"] for a in audit] == ["rule.create", "rule.update"]
    assert audit[1]["before"]["name"] == "Pause low CTR" and audit[1]["after"]["name"] == "Pause weak"
    # a blank name is refused, and nothing changes
    fields["name"] = ""
    response = await post_form(world.client, f"/rules/{rule['id']}/edit", fields)
    assert response.status == 422 and 'id="name-error"' in await response.text()
    assert await world.db.fetchval("select version from automation_rules where id = $1", rule["id"]) == 2


async def test_disable_and_enable_from_the_list_once_each(world):
    rule = await api_rule(world, pause_rule(world))
    status, html = await page(world.client, "/rules")
    assert status == 200 and f'action="/rules/{rule["id"]}/disable"' in html and "Pause low CTR" in html
    for _ in range(2):  # the second submit finds it disabled already
        response = await submit(world.client, f"/rules/{rule['id']}/disable", world.csrf, next="/rules")
        assert response.status == 303 and response.headers["Location"] == "/rules?done=disabled"
    row = await world.db.fetchrow("select enabled, next_run_at from automation_rules where id = $1", rule["id"])
    assert (row["enabled"], row["next_run_at"]) == (False, None)
    status, html = await page(world.client, "/rules")
    assert f'action="/rules/{rule["id"]}/enable"' in html
    response = await submit(world.client, f"/rules/{rule['id']}/enable", world.csrf)
    assert response.status == 303
    row = await world.db.fetchrow("select enabled, next_run_at from automation_rules where id = $1", rule["id"])
    assert row["enabled"] is True and row["next_run_at"] is not None
    audit = await world.db.fetch("select after from audit_log where target_type = 'rule' and target_id = $1 "
                                 "and action = 'rule.update' order by id", str(rule["id"]))  # fmt: skip
    assert [a["after"]["enabled"] for a in audit] == [False, True]


async def test_preview_page_shows_what_the_api_preview_shows(world):
    rule = await api_rule(world, pause_rule(world, 2.0))
    api = await (await world.post(f"{RULES}/{rule['id']}/preview")).json()
    assert api["decisions"], "the threshold matches some campaigns"
    status, html = await page(world.client, f"/rules/{rule['id']}/preview")
    assert status == 200, html
    text = unescape(html)
    for decision in api["decisions"]:
        assert f'href="/campaigns/{decision["object_id"]}"' in html and decision["object_name"] in text
    assert text.count('class="after">Paused</strong>') == sum(1 for d in api["decisions"] if d["plan"])
    assert f"{api['matched']} of {api['evaluated']} objects" in text


async def test_backtest_page_draws_one_bar_per_day_and_tables_the_api_numbers(world):
    rule = await api_rule(world, pause_rule(world, 2.0))
    status, html = await page(world.client, f"/rules/{rule['id']}/backtest")
    assert status == 200 and "<svg" not in html  # the form first
    api = await (await world.post(f"{RULES}/{rule['id']}/backtest", json={})).json()
    status, html = await page(world.client, f"/rules/{rule['id']}/backtest?run=1")
    assert status == 200, html
    svg = html.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert svg.count('class="bar-matched"') == len(api["days"])
    assert svg.count('class="bar-actions"') == sum(1 for d in api["days"] if d["actions"])
    rows = re.findall(r'<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>', html)
    assert [(int(m), int(a)) for m, a in rows] == [(d["matched"], len(d["actions"])) for d in api["days"]]
    status, html = await page(world.client, f"/rules/{rule['id']}/backtest?since=2020-01-01&until=2019-01-01")
    assert status == 422 and ('id="since-error"' in html or 'id="until-error"' in html)


async def test_run_now_after_confirmation_pauses_at_the_sandbox_once_per_form(world):
    rule = await api_rule(world, pause_rule(world, 2.0))
    preview = await (await world.post(f"{RULES}/{rule['id']}/preview")).json()
    paused = [d["object_id"] for d in preview["decisions"] if d["plan"]]
    assert paused
    html, csrf, key = await form_page(world.client, f"/rules/{rule['id']}/run")
    assert "Run now" in html
    writes = world.writes
    first = await submit(world.client, f"/rules/{rule['id']}/run", csrf, idempotency_key=key)
    second = await submit(world.client, f"/rules/{rule['id']}/run", csrf, idempotency_key=key)
    assert first.status == second.status == 303, await second.text()
    assert first.headers["Location"] == second.headers["Location"]
    assert world.writes == writes + len(paused)
    assert all(world.node(object_id).status == "PAUSED" for object_id in paused)
    runs = await world.db.fetch("select id, trigger, requested_by, applied from rule_runs where rule_id = $1",
                                rule["id"])  # fmt: skip
    assert [(r["trigger"], r["requested_by"], r["applied"]) for r in runs] == [
        ("manual", world.owner.user.id, len(paused))
    ]
    status, html = await page(world.client, first.headers["Location"].split("#")[0])
    assert status == 200 and f'id="run-{runs[0]["id"]}" class="highlight"' in html
    actions = await world.db.fetch("select id from actions where source = 'rule' and source_id = $1", str(rule["id"]))
    assert len(actions) == len(paused) and all(f'href="/actions/{a["id"]}"' in html for a in actions)


async def test_throttled_previews_backtests_and_runs_are_429_pages_with_retry_after(world, stack):
    rule = await api_rule(world, pause_rule(world))
    redis = redis_sync.Redis.from_url(stack.redis_url)
    uid = world.owner.user.id
    for name, limit in (("previews", 30), ("backtests", 6), ("rule_runs", 10)):
        redis.set(f"adsvc:limit:{name}:user:{uid}", limit, ex=40)
    writes = world.writes
    for path in (f"/rules/{rule['id']}/preview", f"/rules/{rule['id']}/backtest?run=1"):
        response = await world.client.get(path, allow_redirects=False)
        assert response.status == 429 and response.content_type == "text/html", path
        assert 0 < int(response.headers["Retry-After"]) <= 40
    _html, csrf, key = await form_page(world.client, f"/rules/{rule['id']}/run")
    response = await submit(world.client, f"/rules/{rule['id']}/run", csrf, idempotency_key=key)
    assert response.status == 429 and "Retry-After" in response.headers
    assert world.writes == writes
    redis.close()


async def test_rule_forms_without_csrf_are_refused(world):
    rule = await api_rule(world, pause_rule(world))
    fields = await new_form(world)
    del fields["_csrf"]
    for path, data in (("/rules/new", fields), (f"/rules/{rule['id']}/disable", {}),
                       (f"/rules/{rule['id']}/run", {"idempotency_key": "k"}),
                       (f"/rules/{rule['id']}/edit", fields)):  # fmt: skip
        response = await world.client.post(path, data=data, allow_redirects=False)
        assert response.status == 403, path
    assert await world.db.fetchval("select count(*) from automation_rules where account_id = $1", world.account_id) == 1
    assert await world.db.fetchval("select enabled from automation_rules where id = $1", rule["id"]) is True
    assert await world.db.fetchval("select count(*) from rule_runs where rule_id = $1", rule["id"]) == 0


async def test_another_users_rule_is_a_404_page_and_cannot_be_changed_or_run(world, stranger):
    rule = await api_rule(world, pause_rule(world))
    for path in ("", "/edit", "/preview", "/backtest?run=1", "/run"):
        status, html = await page(stranger.client, f"/rules/{rule['id']}{path}")
        assert status == 404 and "Page not found" in html, path
    for verb in ("disable", "enable", "run", "edit"):
        response = await submit(stranger.client, f"/rules/{rule['id']}/{verb}", stranger.csrf, idempotency_key="s",
                                name="Mine now")  # fmt: skip
        assert response.status == 404, verb
    status, html = await page(stranger.client, "/rules")
    assert status == 200 and "Pause low CTR" not in html
    # creating a rule on an account one does not manage is refused too
    fields = await new_form(world)
    fields["_csrf"] = stranger.csrf
    response = await post_form(stranger.client, "/rules/new", fields)
    assert response.status == 422 and 'id="account_id-error"' in await response.text()
    row = await world.db.fetchrow("select name, enabled, version from automation_rules where id = $1", rule["id"])
    assert tuple(row) == ("Pause low CTR", True, 1)
    assert await world.db.fetchval("select count(*) from automation_rules where account_id = $1", world.account_id) == 1


async def test_a_viewer_sees_rules_but_cannot_change_or_run_them(world, settings, aiohttp_client):
    from adsvc.app import create_app

    rule = await api_rule(world, pause_rule(world))
    viewer = await add_member(world, settings, "viewer")
    client = await aiohttp_client(create_app(settings))
    csrf = await sign_in(client, viewer.user.email)
    status, html = await page(client, f"/rules/{rule['id']}")
    assert status == 200 and "Run now" not in html and "/edit" not in html
    status, html = await page(client, f"/rules/{rule['id']}/preview")
    assert status == 200
    for verb in ("disable", "enable", "run", "edit"):  # enabling an enabled rule is refused too, not a no-op
        response = await submit(client, f"/rules/{rule['id']}/{verb}", csrf, idempotency_key="v", name="Mine")
        assert response.status == 403, verb
    status, _html = await page(client, f"/rules/{rule['id']}/edit")
    assert status == 403
    assert await world.db.fetchval("select enabled from automation_rules where id = $1", rule["id"]) is True


async def test_the_forms_errors_are_in_the_readers_language_with_budgets_in_the_account_currency(world):
    from decimal import Decimal

    from adsvc.pages.i18n import Formatter

    response = await world.client.post("/account/language", data={"_csrf": world.csrf, "locale": "pt_BR"},
                                       allow_redirects=False)  # fmt: skip
    assert response.status == 303
    currency = await world.db.fetchval("select currency from ad_accounts where id = $1", world.account_id)
    fields = await new_form(world)
    fields.update({"name": "Orçamento", "action_type": "change_budget", "action_amount": "0,50",
                   "schedule_every_minutes": "5", "cond_0_value": "muito"})  # fmt: skip
    response = await post_form(world.client, "/rules/new", fields)
    assert response.status == 422
    text = unescape(await response.text())
    # 100 minor units is the API's floor for a budget: shown as money, as the form takes it
    floor = Formatter("pt_BR").money(Decimal("1.00"), currency)
    assert re.search(r'id="action_amount-error">Deve ser pelo menos ' + re.escape(floor) + r"\.<", text), floor
    assert 'id="schedule_every_minutes-error">Deve ser pelo menos 15.<' in text
    assert 'id="cond_0_value-error">Digite um número.<' in text
    assert "Criar a regra" in text and "Condições" in text


async def test_ids_that_name_nothing_are_404_pages(world):
    for path in ("/rules/0", "/rules/abc", "/rules/99999999999999999999/edit", "/suggestions/99999999999999999999",
                 "/actions/x1/revert"):  # fmt: skip
        status, html = await page(world.client, path)
        assert status == 404 and "Page not found" in html, path


async def test_a_rule_form_posted_with_fields_missing_is_shown_again_with_errors(world):
    response = await post_form(world.client, "/rules/new", MultiDict({"_csrf": world.csrf, "name": "Half a form",
                                                                      "cond_0_metric": "ctr"}))  # fmt: skip
    assert response.status == 422, await response.text()
    html = await response.text()
    assert 'id="action_type-error"' in html and 'id="cond_0_value-error"' in html and 'value="Half a form"' in html
