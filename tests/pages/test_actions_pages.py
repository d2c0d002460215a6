"""The actions history over HTTP against the sandbox: the list shows what the JSON API lists, an action's page says
what it changed, revert shows the change back and restores the sandbox object once per rendered form, a
non-revertible action says why, and other users get 404 pages and change nothing."""

from __future__ import annotations

import re
from html import unescape

from pages.acting import audit_mark, form_page, graph_sandbox, settings, stranger, submit, worker_env, world
from pages.helpers import page

__all__ = ["graph_sandbox", "settings", "stranger", "worker_env", "world"]


async def _applied_pause(world) -> tuple[dict, dict]:
    pause = await world.suggestion("pause_underperformer")
    response = await world.post(f"/api/v1/suggestions/{pause['id']}/apply")
    assert response.status == 200, await response.text()
    [action] = (await response.json())["actions"]
    return pause, action


def _ids_on(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<td><a href="/actions/(\d+)">', html)]


async def test_the_history_lists_what_the_api_lists_with_names_and_filters(world):
    pause, action = await _applied_pause(world)
    await world.post("/api/v1/automation/optimize-budgets", json={"account_id": world.account_id, "dry_run": False})
    api = await world.client.get("/api/v1/automation/actions", headers=world.owner.headers)
    listed = (await api.json())["data"]
    assert len(listed) >= 2
    status, html = await page(world.client, "/actions")
    assert status == 200, html
    assert _ids_on(html) == [a["id"] for a in listed]
    assert pause["object_name"] in unescape(html)
    status, html = await page(world.client, f"/actions?object_id={action['object_id']}&status=applied")
    assert status == 200 and _ids_on(html) == [action["id"]]
    status, html = await page(world.client, "/actions?status=exploded")
    assert status == 422


async def test_revert_from_the_page_restores_the_sandbox_object_once(world):
    _pause, action = await _applied_pause(world)
    campaign_id = action["object_id"]
    assert world.node(campaign_id).status == "PAUSED"
    status, html = await page(world.client, f"/actions/{action['id']}")
    assert status == 200 and f'href="/actions/{action["id"]}/revert"' in html
    mark = await audit_mark(world.db)
    html, csrf, key = await form_page(world.client, f"/actions/{action['id']}/revert")
    assert re.search(r'class="before">Paused</span>.*class="after">Active</strong>', html)
    writes = world.writes
    first = await submit(world.client, f"/actions/{action['id']}/revert", csrf, idempotency_key=key)
    second = await submit(world.client, f"/actions/{action['id']}/revert", csrf, idempotency_key=key)
    assert first.status == second.status == 303, await second.text()
    assert first.headers["Location"] == second.headers["Location"]
    assert world.node(campaign_id).status == "ACTIVE" and world.writes == writes + 1
    reverts = await world.db.fetch("select id, status, before_value, after_value, requested_by from actions "
                                   "where reverts_action_id = $1", action["id"])  # fmt: skip
    assert [(r["status"], r["before_value"], r["after_value"], r["requested_by"]) for r in reverts] == [
        ("applied", "PAUSED", "ACTIVE", world.owner.user.id)
    ]
    assert first.headers["Location"] == f"/actions/{reverts[0]['id']}?done=reverted"
    assert await world.db.fetchval("select status from actions where id = $1", action["id"]) == "reverted"
    assert await world.db.fetchval("select status from campaigns where id = $1", campaign_id) == "ACTIVE"
    audit = await world.db.fetch("select action, actor_id, before, after from audit_log where target_id = $1 "
                                 "and action = 'action.revert' and id > $2", campaign_id, mark)  # fmt: skip
    assert [(a["actor_id"], a["before"], a["after"]) for a in audit] == [
        (world.owner.user.id, {"status": "PAUSED"}, {"status": "ACTIVE"})
    ]
    # the revert's page links back; neither it nor the reverted action can be reverted, and each page says why
    status, html = await page(world.client, first.headers["Location"])
    assert status == 200 and f'href="/actions/{action["id"]}"' in html
    assert "A revert cannot itself be reverted" in html and "/revert" not in html.split("<main", 1)[1]
    status, html = await page(world.client, f"/actions/{action['id']}/revert")
    assert status == 200 and "This action has already been reverted." in html and "Revert at Meta" not in html


async def test_a_revert_of_a_budget_change_restores_the_sandbox_budget_exactly(world):
    raise_ = await world.suggestion("raise_budget")
    response = await world.post(f"/api/v1/suggestions/{raise_['id']}/apply")
    [action] = (await response.json())["actions"]
    campaign_id = action["object_id"]
    html, csrf, key = await form_page(world.client, f"/actions/{action['id']}/revert")
    assert "Daily budget" in html
    response = await submit(world.client, f"/actions/{action['id']}/revert", csrf, idempotency_key=key)
    assert response.status == 303
    assert world.node(campaign_id).daily_budget == raise_["proposal"]["from"]


async def test_an_action_whose_object_already_holds_the_old_value_says_why_it_cannot_be_reverted(world):
    _pause, action = await _applied_pause(world)
    # someone activated the campaign again elsewhere, and the next sync stored it
    await world.db.execute("update campaigns set status = 'ACTIVE', effective_status = 'ACTIVE' where id = $1",
                           action["object_id"])  # fmt: skip
    status, html = await page(world.client, f"/actions/{action['id']}/revert")
    assert status == 200 and "already has this value" in html and "Revert at Meta" not in html


async def test_revert_without_csrf_is_refused_and_another_users_action_is_a_404(world, stranger):
    _pause, action = await _applied_pause(world)
    writes = world.writes
    refused = await world.client.post(f"/actions/{action['id']}/revert", data={"idempotency_key": "k"},
                                      allow_redirects=False)  # fmt: skip
    assert refused.status == 403
    for path in (f"/actions/{action['id']}", f"/actions/{action['id']}/revert"):
        status, html = await page(stranger.client, path)
        assert status == 404 and "Page not found" in html
    response = await submit(stranger.client, f"/actions/{action['id']}/revert", stranger.csrf, idempotency_key="s")
    assert response.status == 404
    status, html = await page(stranger.client, "/actions")
    assert status == 200 and _ids_on(html) == []
    assert world.writes == writes and world.node(action["object_id"]).status == "PAUSED"
