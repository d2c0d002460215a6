"""The syncs pages: each of the user's accounts with its runs as the sync-runs API returns them, a running sync's
progress as the worker records it, and "sync now", which queues the same arq job as the sync API (one per account,
kind and minute), is audited the same way, and is refused to viewers, to other users and without CSRF."""

from __future__ import annotations

import re

from accounts.helpers import insert_account
from arq.constants import default_queue_name as ARQ_QUEUE
from arq.jobs import Job
from factories import bearer, create_user, login
from pages.helpers import csrf_of, page, sign_in

from adsvc.collection import queries as collection
from adsvc.keys import ARQ


async def _sync_jobs(client, account_id):
    jobs = [member.decode() for member in await client.server.app[ARQ].zrange(ARQ_QUEUE, 0, -1)]
    return [job for job in jobs if job.split(":")[1:2] == [account_id]]


async def _sync_now(client, account_id, data):
    response = await client.post(f"/syncs/{account_id}", data=data, allow_redirects=False)
    return response.status, response.headers.get("Location", ""), await response.text()


async def test_sync_now_queues_the_apis_job_once_per_minute_and_audits_each_click(client, db, settings):
    user = await create_user(db, settings)
    account_id = await insert_account(db, user_id=user.id, role="manager")
    await sign_in(client, user.email)
    status, html = await page(client, "/syncs")
    assert status == 200 and f'action="/syncs/{account_id}"' in html
    csrf = csrf_of(html)
    for _ in range(2):  # a second attempt only if a minute boundary fell between the two clicks
        first = await _sync_now(client, account_id, {"_csrf": csrf, "kind": "structure"})
        second = await _sync_now(client, account_id, {"_csrf": csrf, "kind": "structure"})
        jobs = await _sync_jobs(client, account_id)
        if len(jobs) == 1:
            break
    assert first[0] == second[0] == 303
    assert "done=queued" in first[1] and "done=already" in second[1]
    [job_id] = jobs
    assert re.fullmatch(rf"sync-structure:{account_id}:\d+", job_id)
    info = await Job(job_id, client.server.app[ARQ]).info()
    assert (info.function, tuple(info.args)) == ("sync_structure", (account_id,))
    audited = await db.fetch(
        "select details, request_id from audit_log where action = 'ad_account.sync' and actor_id = $1 order by id",
        user.id,
    )
    assert [row["details"]["queued"] for row in audited][-2:] == [True, False]
    assert {row["details"]["job_id"] for row in audited[-2:]} == {job_id}
    status, html = await page(client, "/syncs?done=already")
    assert "already queued a moment ago" in html


async def test_a_backfill_takes_its_days_and_days_are_refused_for_other_kinds(client, db, settings):
    user = await create_user(db, settings)
    account_id = await insert_account(db, user_id=user.id)
    csrf = await sign_in(client, user.email)
    status, _, html = await _sync_now(client, account_id, {"_csrf": csrf, "kind": "insights", "days": "30"})
    assert status == 422 and "for a backfill only" in html
    assert await _sync_jobs(client, account_id) == []
    status, _, _ = await _sync_now(client, account_id, {"_csrf": csrf, "kind": "backfill", "days": "30"})
    assert status == 303
    [job_id] = await _sync_jobs(client, account_id)
    info = await Job(job_id, client.server.app[ARQ]).info()
    assert (info.function, tuple(info.args)) == ("backfill_insights", (account_id, 30))


async def test_the_page_shows_the_same_runs_as_the_api_and_a_running_syncs_progress(client, db, settings):
    user = await create_user(db, settings)
    account_id = await insert_account(db, user_id=user.id)
    done = await collection.start_run(db, account_id=account_id, kind="structure", job_id="j1", since=None, until=None)
    await collection.record_progress(db, run_id=done, progress=1.0, rows_written=0, objects_written=1234,
                                     graph_calls=7)  # fmt: skip
    await collection.finish_run(db, run_id=done, status="succeeded")
    running = await collection.start_run(db, account_id=account_id, kind="insights", job_id="j2", since=None,
                                         until=None)  # fmt: skip
    await collection.record_progress(db, run_id=running, progress=0.375, rows_written=4321, objects_written=0,
                                     graph_calls=3)  # fmt: skip
    token = await login(client, user.email)
    api = await client.get(f"/api/v1/ad-accounts/{account_id}/sync-runs", headers=bearer(token))
    runs = (await api.json())["data"]
    await sign_in(client, user.email)
    status, html = await page(client, f"/syncs/{account_id}")
    assert status == 200
    assert [run["id"] for run in runs] == [running, done]
    assert "Sync running (insights): 38% done, 4,321 rows" in html
    assert re.search(r"<progress max=\"1\" value=\"0\.375\d*\">", html)
    assert "already running" in html
    assert "1,234" in html and "succeeded" in html
    status, html = await page(client, f"/syncs/{account_id}?before_id={running}")  # the older page: the API's keyset
    assert status == 200 and "succeeded" in html and "Sync running" not in html
    status, html = await page(client, "/syncs")
    assert status == 200 and "38% done" in html and f'href="/syncs/{account_id}"' in html
    # sync now while one runs: queued behind it, and the page says so
    response = await client.post(f"/syncs/{account_id}", data={"_csrf": csrf_of(html), "kind": "insights",
                                                              "back": "account"}, allow_redirects=False)  # fmt: skip
    assert response.status == 303 and response.headers["Location"].startswith(f"/syncs/{account_id}?done=behind")
    status, html = await page(client, response.headers["Location"].split("#")[0])
    assert "queued behind the one running now" in html, response.headers["Location"]


async def test_viewers_see_no_sync_button_and_get_a_403_page_if_they_post(client, db, settings):
    owner = await create_user(db, settings)
    viewer = await create_user(db, settings)
    account_id = await insert_account(db, user_id=owner.id)
    await db.execute("insert into ad_account_members (account_id, user_id, role) values ($1, $2, 'viewer')",
                     account_id, viewer.id)  # fmt: skip
    csrf = await sign_in(client, viewer.email)
    status, html = await page(client, "/syncs")
    assert status == 200 and f"act_{account_id}" in html
    assert f'action="/syncs/{account_id}"' not in html and "owners and managers can start a sync" in html
    status, _, html = await _sync_now(client, account_id, {"_csrf": csrf, "kind": "insights"})
    assert status == 403 and "owners and managers" in html
    assert await _sync_jobs(client, account_id) == []


async def test_another_users_account_is_a_404_on_the_sync_pages_and_queues_nothing(client, db, settings):
    owner = await create_user(db, settings)
    stranger = await create_user(db, settings)
    account_id = await insert_account(db, user_id=owner.id)
    csrf = await sign_in(client, stranger.email)
    status, html = await page(client, "/syncs")
    assert status == 200 and account_id not in html
    assert (await page(client, f"/syncs/{account_id}"))[0] == 404
    assert (await page(client, "/syncs/1%002"))[0] == 404
    status, _, _ = await _sync_now(client, account_id, {"_csrf": csrf, "kind": "insights"})
    assert status == 404
    assert await _sync_jobs(client, account_id) == []


async def test_sync_now_without_the_csrf_token_is_refused(client, db, settings):
    user = await create_user(db, settings)
    account_id = await insert_account(db, user_id=user.id)
    await sign_in(client, user.email)
    status, _, _ = await _sync_now(client, account_id, {"kind": "insights"})
    assert status == 403
    assert await _sync_jobs(client, account_id) == []


async def test_the_syncs_page_speaks_portuguese(client, db, settings):
    user = await create_user(db, settings)
    await insert_account(db, user_id=user.id)
    await sign_in(client, user.email)
    status, html = await page(client, "/syncs", headers={"Accept-Language": "pt-BR"})
    assert status == 200 and "Sincronizações" in html and "Sincronizar" in html
