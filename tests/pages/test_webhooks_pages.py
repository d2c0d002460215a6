"""The webhook pages: create (the API's WebhookIn and SSRF guard; the secret shown once, in no URL; a double submit
creates one), a test event that reaches a local receiver signed with that secret, deliveries with their status,
the API's throttle on tests (a 429 page), enable/disable and delete after a confirmation, each audited as the API
audits it, and another user's webhook a 404 on every page and POST."""

from __future__ import annotations

import re

from accounts.helpers import insert_account
from factories import create_user
from pages.helpers import csrf_of, page, sign_in
from webhooks.helpers import local_receivers, receiver, run_webhook_worker, worker_env

__all__ = ["local_receivers", "receiver", "worker_env"]

_FORM_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')
_SECRET = re.compile(r'<p class="secret" id="secret">([^<]+)</p>')


async def _post(client, path, data):
    response = await client.post(path, data=data, allow_redirects=False)
    return response, await response.text()


async def _create(client, url, *, events=("test",), account_id="", key=None):
    status, html = await page(client, "/webhooks/new")
    assert status == 200
    form = [("_csrf", csrf_of(html)), ("url", url), ("format", "json"), ("account_id", account_id),
            ("description", "from the page"), ("active", "on"),
            ("idempotency_key", key or _FORM_KEY.search(html).group(1))]  # fmt: skip
    form += [("events", event) for event in events]
    return await _post(client, "/webhooks/new", form)


async def _audit(db, webhook_id):
    rows = await db.fetch(
        "select action, actor_id, after, request_id from audit_log where target_type = 'webhook' and target_id = $1 "
        "order by id",
        str(webhook_id),
    )
    return rows


async def test_create_shows_the_secret_once_and_a_test_event_reaches_the_receiver_signed_with_it(
    client, db, settings, stack, receiver, worker_env
):
    user = await create_user(db, settings)
    account_id = await insert_account(db, user_id=user.id)
    await sign_in(client, user.email)
    response, html = await _create(client, receiver.url, events=("test", "sync.failed"), account_id=account_id)
    assert response.status == 201 and "Location" not in response.headers
    secret = _SECRET.search(html).group(1)
    assert len(secret) >= 32 and secret not in str(response.url)
    webhook = await db.fetchrow("select id, url, events, account_id, active from webhooks where user_id = $1", user.id)
    assert (webhook["url"], webhook["events"], webhook["account_id"], webhook["active"]) == (
        receiver.url, ["test", "sync.failed"], account_id, True)  # fmt: skip
    # never again: not on the webhook's page, not in the list
    for path in (f"/webhooks/{webhook['id']}", "/webhooks"):
        status, later = await page(client, path)
        assert status == 200 and secret not in later and receiver.url in later
    [created] = await _audit(db, webhook["id"])
    assert created["action"] == "webhook.create" and created["actor_id"] == user.id and "secret" not in created["after"]

    status, html = await page(client, f"/webhooks/{webhook['id']}")
    tested, _ = await _post(client, f"/webhooks/{webhook['id']}/test", {"_csrf": csrf_of(html)})
    assert tested.status == 303 and tested.headers["Location"].endswith("tested=1")
    receiver.secret = secret
    await run_webhook_worker(stack)
    assert len(receiver.received) == 1 and receiver.received[0].signature_ok
    status, html = await page(client, f"/webhooks/{webhook['id']}")
    assert "delivered" in html and ">200<" in html
    assert [row["action"] for row in await _audit(db, webhook["id"])] == ["webhook.create", "webhook.test"]


async def test_a_double_submit_of_the_create_form_creates_one_webhook(client, db, settings, receiver):
    user = await create_user(db, settings)
    await sign_in(client, user.email)
    first, _ = await _create(client, receiver.url, key="same-form-key")
    second, _ = await _create(client, receiver.url, key="same-form-key")
    assert first.status == 201 and second.status == 303
    [webhook_id] = [row["id"] for row in await db.fetch("select id from webhooks where user_id = $1", user.id)]
    assert second.headers["Location"] == f"/webhooks/{webhook_id}?again=1"
    status, html = await page(client, second.headers["Location"])
    assert status == 200 and "already sent" in html and not _SECRET.search(html)


async def test_the_form_refuses_what_the_api_refuses(client, db, settings, receiver):
    user = await create_user(db, settings)
    other = await create_user(db, settings)
    theirs = await insert_account(db, user_id=other.id)
    await sign_in(client, user.email)
    response, html = await _create(client, "http://169.254.169.254/latest/meta-data")
    assert response.status == 422 and 'aria-invalid="true"' in html  # the SSRF guard, unchanged
    response, html = await _create(client, "ftp://example.com/hook")
    assert response.status == 422
    response, html = await _create(client, receiver.url, events=())
    assert response.status == 422 and 'id="events-error">Choose at least one event of the list.' in html
    response, html = await _create(client, receiver.url, events=("no.such.event",))
    assert response.status == 422
    response, _ = await _create(client, receiver.url, account_id=theirs)
    assert response.status == 404  # another tenant's account: the API's 404
    assert await db.fetchval("select count(*) from webhooks where user_id = $1", user.id) == 0
    # a refused form can be fixed and sent again with the same key
    response, html = await _create(client, "http://169.254.169.254/x", key="fix-me")
    assert response.status == 422
    response, _ = await _create(client, receiver.url, key="fix-me")
    assert response.status == 201


async def test_test_sends_are_throttled_like_the_api_with_a_429_page(client, db, settings, receiver):
    user = await create_user(db, settings)
    await sign_in(client, user.email)
    await _create(client, receiver.url)
    webhook_id = await db.fetchval("select id from webhooks where user_id = $1", user.id)
    _status, html = await page(client, f"/webhooks/{webhook_id}")
    csrf = csrf_of(html)
    statuses = [(await _post(client, f"/webhooks/{webhook_id}/test", {"_csrf": csrf}))[0] for _ in range(6)]
    assert [r.status for r in statuses] == [303] * 5 + [429]
    assert int(statuses[-1].headers["Retry-After"]) > 0
    assert await db.fetchval("select count(*) from webhook_deliveries where webhook_id = $1", webhook_id) == 5


async def test_disable_enable_and_delete_after_confirmation_are_audited_like_the_api(client, db, settings, receiver):
    user = await create_user(db, settings)
    csrf = await sign_in(client, user.email)
    await _create(client, receiver.url)
    webhook_id = await db.fetchval("select id from webhooks where user_id = $1", user.id)
    for _ in range(2):  # twice: the second changes nothing and audits nothing
        response, _ = await _post(client, f"/webhooks/{webhook_id}/active", {"_csrf": csrf, "active": "0"})
        assert response.status == 303
    assert await db.fetchval("select active from webhooks where id = $1", webhook_id) is False
    status, html = await page(client, f"/webhooks/{webhook_id}?disabled=1")
    assert "Disabled" in html and "Enable" in html
    await _post(client, f"/webhooks/{webhook_id}/active", {"_csrf": csrf, "active": "1"})
    assert await db.fetchval("select active from webhooks where id = $1", webhook_id) is True
    status, html = await page(client, f"/webhooks/{webhook_id}/delete")
    assert status == 200 and f'action="/webhooks/{webhook_id}/delete"' in html
    response, _ = await _post(client, f"/webhooks/{webhook_id}/delete", {"_csrf": csrf})
    assert response.status == 303 and response.headers["Location"] == "/webhooks?deleted=1"
    assert await db.fetchval("select count(*) from webhooks where id = $1", webhook_id) == 0
    actions = [row["action"] for row in await _audit(db, webhook_id)]
    assert actions == ["webhook.create", "webhook.update", "webhook.update", "webhook.delete"]


async def test_the_deliveries_are_paged_and_filtered_by_status(client, db, settings, receiver):
    user = await create_user(db, settings)
    await sign_in(client, user.email)
    await _create(client, receiver.url)
    webhook_id = await db.fetchval("select id from webhooks where user_id = $1", user.id)
    for n in range(55):
        await db.execute(
            "insert into webhook_events (id, event, data) values ($1, 'test', '{}')", f"page-test:{webhook_id}:{n}"
        )
        await db.execute("insert into webhook_deliveries (webhook_id, event_id, status) values ($1, $2, $3)",
                         webhook_id, f"page-test:{webhook_id}:{n}", "failed" if n == 0 else "delivered")  # fmt: skip
    status, html = await page(client, f"/webhooks/{webhook_id}")
    assert html.count("page-test:") == 50
    older = re.search(r'href="(/webhooks/\d+\?before_id=\d+)"', html).group(1)
    status, html = await page(client, older)
    assert status == 200 and html.count("page-test:") == 5
    status, html = await page(client, f"/webhooks/{webhook_id}?status=failed")
    assert html.count("page-test:") == 1 and f"page-test:{webhook_id}:0<" in html


async def test_another_users_webhook_is_a_404_on_every_page_and_post(client, db, settings, receiver):
    owner = await create_user(db, settings)
    stranger = await create_user(db, settings)
    await sign_in(client, owner.email)
    await _create(client, receiver.url)
    webhook_id = await db.fetchval("select id from webhooks where user_id = $1", owner.id)
    client.session.cookie_jar.clear()
    csrf = await sign_in(client, stranger.email)
    status, html = await page(client, "/webhooks")
    assert status == 200 and receiver.url not in html
    for path in (f"/webhooks/{webhook_id}", f"/webhooks/{webhook_id}/delete"):
        assert (await page(client, path))[0] == 404
    for path in ("test", "active", "delete"):
        response, html = await _post(client, f"/webhooks/{webhook_id}/{path}", {"_csrf": csrf, "active": "0"})
        assert response.status == 404 and "Page not found" in html
    row = await db.fetchrow("select active from webhooks where id = $1", webhook_id)
    assert row["active"] is True
    assert await db.fetchval("select count(*) from webhook_deliveries where webhook_id = $1", webhook_id) == 0


async def test_webhook_posts_without_the_csrf_token_are_refused(client, db, settings, receiver):
    user = await create_user(db, settings)
    await sign_in(client, user.email)
    response, _ = await _post(client, "/webhooks/new", {"url": receiver.url, "events": "test"})
    assert response.status == 403
    assert await db.fetchval("select count(*) from webhooks where user_id = $1", user.id) == 0


async def test_the_new_webhook_page_speaks_portuguese(client, db, settings):
    user = await create_user(db, settings)
    await sign_in(client, user.email)
    status, html = await page(client, "/webhooks/new", headers={"Accept-Language": "pt-BR"})
    assert status == 200 and "Novo webhook" in html and "Criar webhook" in html
