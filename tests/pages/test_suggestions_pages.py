"""The suggestions inbox over HTTP against the sandbox: the page lists what the JSON API lists, accept and dismiss
change the database as the API does (audited once), apply shows the exact change and makes it at the sandbox once
per rendered form, and other users get 404 pages and change nothing."""

from __future__ import annotations

import re
from html import unescape

from pages.acting import audit_mark, form_page, graph_sandbox, settings, stranger, submit, worker_env, world
from pages.helpers import page

__all__ = ["graph_sandbox", "settings", "stranger", "worker_env", "world"]


def _ids_on(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'id="suggestion-(\d+)"', html)]


async def test_the_inbox_lists_the_open_suggestions_the_api_lists_with_their_names_and_numbers(world):
    api = await world.client.get("/api/v1/suggestions", params={"status": "open", "limit": 25},
                                 headers=world.owner.headers)  # fmt: skip
    listed = (await api.json())["data"]
    assert listed, "the world has open suggestions"
    status, html = await page(world.client, "/suggestions")
    assert status == 200, html
    assert _ids_on(html) == [s["id"] for s in listed]
    text = unescape(html)
    for suggestion in listed:
        assert suggestion["object_name"] in text
        assert suggestion["rationale"] in text
    assert "Data as of" in html
    # a raise_budget suggestion shows its budget change as money of the account currency, before -> after
    raise_ = next(s for s in listed if s["kind"] == "raise_budget")
    before, after = raise_["proposal"]["from"] / 100, raise_["proposal"]["to"] / 100
    currency = raise_["currency"]
    assert f"{before:,.2f}" in text and f"{after:,.2f}" in text, (currency, before, after)


async def test_the_inbox_filters_by_kind_status_and_account_and_pages(world):
    status, html = await page(world.client, "/suggestions?kind=pause_underperformer")
    assert status == 200
    api = await world.client.get("/api/v1/suggestions", params={"kind": "pause_underperformer", "status": "open"},
                                 headers=world.owner.headers)  # fmt: skip
    assert _ids_on(html) == [s["id"] for s in (await api.json())["data"]]
    status, html = await page(world.client, "/suggestions?status=dismissed")
    assert status == 200 and _ids_on(html) == []
    status, html = await page(world.client, f"/suggestions?account_id=act_{world.account_id}&status=all")
    everything = _ids_on(html)
    assert status == 200 and everything
    status, html = await page(world.client, "/suggestions?kind=explode")
    assert status == 422
    # pages of 25 walk every suggestion once
    total = await world.db.fetchval("select count(*) from suggestions where account_id = $1", world.account_id)
    seen: list[int] = []
    path = "/suggestions?status=all"
    while path:
        status, html = await page(world.client, unescape(path))
        seen += _ids_on(html)
        found = re.search(r'href="([^"]+)">Older suggestions<', html)
        path = found.group(1) if found else ""
    assert len(seen) == len(set(seen)) == total


async def test_accept_and_dismiss_from_the_page_change_the_row_and_are_audited_once(world):
    pause = await world.suggestion("pause_underperformer")
    raise_ = await world.suggestion("raise_budget")
    response = await submit(world.client, f"/suggestions/{pause['id']}/accept", world.csrf, next="/suggestions")
    assert response.status == 303 and response.headers["Location"] == "/suggestions?done=accepted"
    # the same form submitted again: still accepted, no second change
    again = await submit(world.client, f"/suggestions/{pause['id']}/accept", world.csrf, next="/suggestions")
    assert again.status == 303
    response = await submit(world.client, f"/suggestions/{raise_['id']}/dismiss", world.csrf)
    assert response.status == 303
    rows = await world.db.fetch("select id, status, decided_by from suggestions where id = any($1::bigint[])",
                                [pause["id"], raise_["id"]])  # fmt: skip
    assert {r["id"]: (r["status"], r["decided_by"]) for r in rows} == {
        pause["id"]: ("accepted", world.owner.user.id),
        raise_["id"]: ("dismissed", world.owner.user.id),
    }
    audit = await world.db.fetch(
        "select action, target_id, actor_id, before, after from audit_log where target_type = 'suggestion' "
        "and target_id = any($1::text[]) order by id",
        [str(pause["id"]), str(raise_["id"])],
    )
    assert [(a["action"], a["target_id"], a["before"], a["after"]) for a in audit] == [
        ("suggestion.accept", str(pause["id"]), {"status": "open"}, {"status": "accepted"}),
        ("suggestion.dismiss", str(raise_["id"]), {"status": "open"}, {"status": "dismissed"}),
    ]
    assert all(a["actor_id"] == world.owner.user.id for a in audit)
    # dismissed cannot be accepted: a 409 page
    response = await submit(world.client, f"/suggestions/{raise_['id']}/accept", world.csrf)
    assert response.status == 409 and response.content_type == "text/html"


async def test_apply_shows_the_exact_status_change_then_pauses_the_sandbox_campaign_once(world):
    pause = await world.suggestion("pause_underperformer")
    campaign_id = pause["object_id"]
    assert world.node(campaign_id).status == "ACTIVE"
    mark = await audit_mark(world.db)
    html, csrf, key = await form_page(world.client, f"/suggestions/{pause['id']}/apply")
    text = unescape(html)
    assert "Status: " in text and re.search(r'class="before">Active</span>.*class="after">Paused</strong>', text)
    assert pause["object_name"] in text
    writes = world.writes
    first = await submit(world.client, f"/suggestions/{pause['id']}/apply", csrf, idempotency_key=key)
    second = await submit(world.client, f"/suggestions/{pause['id']}/apply", csrf, idempotency_key=key)
    assert first.status == second.status == 303, await second.text()
    assert first.headers["Location"] == f"/suggestions/{pause['id']}?done=applied"
    assert world.node(campaign_id).status == "PAUSED" and world.writes == writes + 1
    actions = await world.db.fetch("select id, status, before_value, after_value, requested_by from actions "
                                   "where account_id = $1", world.account_id)  # fmt: skip
    assert [(a["status"], a["before_value"], a["after_value"], a["requested_by"]) for a in actions] == [
        ("applied", "ACTIVE", "PAUSED", world.owner.user.id)
    ]
    assert await world.db.fetchval("select status from suggestions where id = $1", pause["id"]) == "applied"
    assert await world.db.fetchval("select status from campaigns where id = $1", campaign_id) == "PAUSED"
    audit = await world.db.fetch(
        "select action, actor_id from audit_log where id > $3 and ((target_type = 'suggestion' and target_id = $1) "
        "or (target_id = $2 and action like 'action.%')) order by id",
        str(pause["id"]),
        campaign_id,
        mark,
    )
    assert [a["action"] for a in audit] == ["suggestion.accept", "action.apply", "suggestion.apply"]
    assert {a["actor_id"] for a in audit} == {world.owner.user.id}
    # the page after the redirect shows the action and the way to revert it
    status, html = await page(world.client, first.headers["Location"])
    assert status == 200 and f'href="/actions/{actions[0]["id"]}/revert"' in html
    # a new form (a new key) on an applied suggestion: nothing to confirm, and a POST is a conflict
    status, html = await page(world.client, f"/suggestions/{pause['id']}/apply")
    assert status == 200 and "Apply at Meta" not in html
    again = await submit(world.client, f"/suggestions/{pause['id']}/apply", csrf, idempotency_key="another-key")
    assert again.status == 409 and world.writes == writes + 1


async def test_apply_of_a_budget_suggestion_changes_the_sandbox_budget_as_the_api_would(world):
    raise_ = await world.suggestion("raise_budget")
    campaign_id = raise_["object_id"]
    html, csrf, key = await form_page(world.client, f"/suggestions/{raise_['id']}/apply")
    assert "Daily budget" in html
    response = await submit(world.client, f"/suggestions/{raise_['id']}/apply", csrf, idempotency_key=key)
    assert response.status == 303, await response.text()
    assert world.node(campaign_id).daily_budget == raise_["proposal"]["to"]
    action = await world.db.fetchrow("select source, source_id, before_value, after_value, currency from actions "
                                     "where object_id = $1", campaign_id)  # fmt: skip
    assert tuple(action) == ("suggestion", str(raise_["id"]), str(raise_["proposal"]["from"]),
                             str(raise_["proposal"]["to"]), raise_["currency"])  # fmt: skip


async def test_page_forms_without_csrf_are_refused_and_change_nothing(world):
    pause = await world.suggestion("pause_underperformer")
    writes = world.writes
    for verb in ("accept", "dismiss", "apply"):
        response = await world.client.post(f"/suggestions/{pause['id']}/{verb}", data={"idempotency_key": "k"},
                                            allow_redirects=False)  # fmt: skip
        assert response.status == 403, verb
    assert await world.db.fetchval("select status from suggestions where id = $1", pause["id"]) == "open"
    assert world.writes == writes


async def test_another_users_suggestion_is_a_404_page_and_cannot_be_acted_on(world, stranger):
    pause = await world.suggestion("pause_underperformer")
    writes = world.writes
    for path in (f"/suggestions/{pause['id']}", f"/suggestions/{pause['id']}/apply"):
        status, html = await page(stranger.client, path)
        assert status == 404 and "Page not found" in html
    for verb in ("accept", "dismiss", "apply"):
        response = await submit(stranger.client, f"/suggestions/{pause['id']}/{verb}", stranger.csrf,
                                idempotency_key="x-1")  # fmt: skip
        assert response.status == 404, verb
    status, html = await page(stranger.client, "/suggestions?status=all")
    assert status == 200 and _ids_on(html) == []
    assert await world.db.fetchval("select status from suggestions where id = $1", pause["id"]) == "open"
    assert world.writes == writes


async def test_the_inbox_in_portuguese(world):
    response = await world.client.post("/account/language", data={"_csrf": world.csrf, "locale": "pt_BR"},
                                       allow_redirects=False)  # fmt: skip
    assert response.status == 303
    status, html = await page(world.client, "/suggestions")
    assert status == 200 and '<html lang="pt-BR">' in html
    text = unescape(html)
    for phrase in ("Sugestões", "Aceitar", "Dispensar", "Aplicar…", "Propõe:", "Dados de"):
        assert phrase in text, phrase
    raise_ = await world.suggestion("raise_budget")
    after = raise_["proposal"]["to"] / 100
    # R$ 1.234,56: the Brazilian grouping and decimal separators
    assert f"{after:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".") in text


async def test_a_viewer_sees_the_inbox_without_buttons_and_cannot_decide_or_apply(world, settings, aiohttp_client):
    from automation.world import add_member
    from pages.helpers import sign_in

    from adsvc.app import create_app

    pause = await world.suggestion("pause_underperformer")
    viewer = await add_member(world, settings, "viewer")
    client = await aiohttp_client(create_app(settings))
    csrf = await sign_in(client, viewer.user.email)
    status, html = await page(client, "/suggestions")
    assert status == 200 and pause["id"] in _ids_on(html)
    assert "/accept" not in html and "/apply" not in html
    status, html = await page(client, f"/suggestions/{pause['id']}/apply")
    assert status == 200 and "Only owners and managers" in html and "Apply at Meta" not in html
    writes = world.writes
    for verb in ("accept", "dismiss", "apply"):
        response = await submit(client, f"/suggestions/{pause['id']}/{verb}", csrf, idempotency_key="v-1")
        assert response.status == 403, verb
    assert await world.db.fetchval("select status from suggestions where id = $1", pause["id"]) == "open"
    assert world.writes == writes


async def test_the_inboxs_own_accept_form_comes_back_to_the_same_filtered_page(world):
    from pages.acting import form_fields

    pause = await world.suggestion("pause_underperformer")
    status, html = await page(world.client, "/suggestions?kind=pause_underperformer&done=dismissed")
    assert status == 200
    fields = form_fields(html, f"/suggestions/{pause['id']}/accept")
    response = await world.client.post(f"/suggestions/{pause['id']}/accept", data=fields, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/suggestions?kind=pause_underperformer&done=accepted"
    status, html = await page(world.client, response.headers["Location"])
    assert "The suggestion was accepted." in html and pause["id"] not in _ids_on(html)  # no longer open
