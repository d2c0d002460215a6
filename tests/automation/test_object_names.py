"""Actions and suggestions carry their object's stored name (`object_name`): a campaign's, an ad set's, an ad's (and
an account's for suggestions), null for an object never synced; in lists and details, and only for the caller's own
accounts. Rows are written straight to SQL; the end-to-end apply test (test_actions.py) checks the write paths."""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from accounts.helpers import insert_account_with_objects, new_caller


async def _names_world(client, db, settings) -> dict[str, Any]:
    caller = await new_caller(client, db, settings)
    objects = await insert_account_with_objects(db, user_id=caller.user.id, days=1)
    account = objects.account_id
    names = {
        ("campaign", objects.campaign_id): f"Synthetic campaign {objects.campaign_id}",
        ("adset", objects.adset_id): "Synthetic ad set",
        ("ad", objects.ad_id): "Synthetic ad",
        ("ad", f"{account}404"): None,  # never synced
    }
    actions = {}
    for (object_type, object_id), name in names.items():
        action_id = await db.fetchval(
            """insert into actions (account_id, object_type, object_id, field, before_value, after_value, status,
                                        source, idempotency_key)
                   values ($1, $2, $3, 'status', 'ACTIVE', 'PAUSED', 'applied', 'manual', $4) returning id""",
            account,
            object_type,
            object_id,
            secrets.token_hex(8),
        )
        actions[action_id] = name
    suggestions = {}
    for (object_type, object_id), name in [*names.items(), (("account", account), f"Synthetic {account}")]:
        suggestion_id = await db.fetchval(
            """insert into suggestions (account_id, object_type, object_id, kind, rationale, evidence, proposal,
                                            period_since, period_until, expires_at)
                   values ($1, $2, $3, 'pause_underperformer', 'why', '{}', '{"action": "pause"}', $4, $4,
                           now() + interval '1 day') returning id""",
            account,
            object_type,
            object_id,
            date(2024, 1, 1),
        )
        suggestions[suggestion_id] = name
    return {"caller": caller, "account": account, "actions": actions, "suggestions": suggestions}


async def _get(client, caller, path: str, **params: str) -> Any:
    response = await client.get(path, params=params, headers=caller.headers)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_actions_carry_their_objects_stored_names_or_null(client, db, settings):
    world = await _names_world(client, db, settings)
    caller, expected = world["caller"], world["actions"]
    listed = await _get(client, caller, "/api/v1/automation/actions", account_id=world["account"])
    assert {row["id"]: row["object_name"] for row in listed["data"]} == expected
    for action_id, name in expected.items():
        detail = await _get(client, caller, f"/api/v1/automation/actions/{action_id}")
        assert detail["object_name"] == name


async def test_suggestions_carry_their_objects_stored_names_or_null(client, db, settings):
    world = await _names_world(client, db, settings)
    caller, expected = world["caller"], world["suggestions"]
    listed = await _get(client, caller, "/api/v1/suggestions", account_id=world["account"])
    assert {row["id"]: row["object_name"] for row in listed["data"]} == expected
    for suggestion_id, name in expected.items():
        detail = await _get(client, caller, f"/api/v1/suggestions/{suggestion_id}")
        assert detail["object_name"] == name
    # a decision answers with the name too (the statement that updates the row reads it)
    suggestion_id, name = next((i, n) for i, n in expected.items() if n == "Synthetic ad set")
    response = await client.post(f"/api/v1/suggestions/{suggestion_id}/dismiss", headers=caller.headers)
    assert response.status == 200, await response.text()
    assert (await response.json())["object_name"] == name


async def test_a_renamed_object_shows_its_new_name_and_others_see_none_of_it(client, db, settings):
    mine = await _names_world(client, db, settings)
    theirs = await _names_world(client, db, settings)
    action_id = next(i for i, n in mine["actions"].items() if n == "Synthetic ad")
    ad_id = await db.fetchval("select object_id from actions where id = $1", action_id)
    await db.execute("update ads set name = 'Renamed <ad>' where id = $1", ad_id)
    detail = await _get(client, mine["caller"], f"/api/v1/automation/actions/{action_id}")
    assert detail["object_name"] == "Renamed <ad>"
    # the other user lists only their own rows, and my ids are 404s to them
    actions = await _get(client, theirs["caller"], "/api/v1/automation/actions")
    suggestions = await _get(client, theirs["caller"], "/api/v1/suggestions")
    assert {row["id"] for row in actions["data"]} == set(theirs["actions"])
    assert {row["id"] for row in suggestions["data"]} == set(theirs["suggestions"])
    for path in (f"/api/v1/automation/actions/{action_id}", f"/api/v1/suggestions/{next(iter(mine['suggestions']))}"):
        response = await client.get(path, headers=theirs["caller"].headers)
        assert response.status == 404
