"""The accounts and members pages: the accounts list shows only one's own accounts, owners add, change and remove
members through the members API's functions (the same rules, refusals and audit entries), everyone else reads, and
non-members get the API's 404."""

from __future__ import annotations

from accounts.helpers import insert_account
from factories import create_user
from pages.helpers import csrf_of, page, sign_in


async def _roles(db, account_id):
    rows = await db.fetch("select user_id, role from ad_account_members where account_id = $1", account_id)
    return {row["user_id"]: row["role"] for row in rows}


async def _member_audit(db, account_id):
    return await db.fetch(
        """select action, actor_id, before, after, request_id from audit_log where target_type = 'ad_account'
           and target_id = $1 and action like 'ad_account.member%' order by id""",
        account_id,
    )


async def _post(client, path, data):
    response = await client.post(path, data=data, allow_redirects=False)
    return response.status, response.headers.get("Location", ""), await response.text()


async def test_accounts_page_lists_only_the_users_accounts_with_role_token_and_links(client, db, settings):
    owner = await create_user(db, settings)
    other = await create_user(db, settings)
    mine = await insert_account(db, user_id=owner.id, currency="BRL", timezone_name="America/Sao_Paulo")
    theirs = await insert_account(db, user_id=other.id)
    await sign_in(client, owner.email)
    status, html = await page(client, "/accounts")
    assert status == 200
    assert f"act_{mine}" in html and f"act_{theirs}" not in html
    assert "BRL" in html and "America/Sao_Paulo" in html and "Owner" in html and "Token invalid" in html
    for link in (f"/dashboard/{mine}", f"/syncs/{mine}", f"/accounts/{mine}/members"):
        assert f'href="{link}"' in html


async def test_an_owner_adds_a_member_by_email_and_a_double_submit_adds_once(client, db, settings):
    owner = await create_user(db, settings)
    newcomer = await create_user(db, settings)
    account_id = await insert_account(db, user_id=owner.id)
    await sign_in(client, owner.email)
    status, html = await page(client, f"/accounts/{account_id}/members")
    assert status == 200 and 'action="/accounts/' in html and owner.email in html
    form = {"_csrf": csrf_of(html), "email": newcomer.email.upper(), "role": "analyst"}
    status, location, _ = await _post(client, f"/accounts/{account_id}/members", form)
    assert status == 303 and location.endswith("done=added")
    status, location, _ = await _post(client, f"/accounts/{account_id}/members", form)
    assert status == 303 and location.endswith("done=unchanged")
    assert (await _roles(db, account_id))[newcomer.id] == "analyst"
    entries = await _member_audit(db, account_id)
    assert [(e["action"], e["actor_id"]) for e in entries] == [("ad_account.member_add", owner.id)]
    assert entries[0]["after"]["role"] == "analyst" and entries[0]["request_id"]
    status, html = await page(client, f"/accounts/{account_id}/members?done=unchanged")
    assert newcomer.email in html and "Nothing changed" in html
    status, html = await page(client, f"/accounts/{account_id}/members?after_id={owner.id}")
    assert status == 200 and (newcomer.email in html) == (newcomer.id > owner.id)
    assert (await page(client, f"/accounts/{account_id}/members?after_id=99999999999999999999999"))[0] == 404


async def test_the_apis_refusals_are_shown_as_messages_on_the_members_page(client, db, settings):
    owner = await create_user(db, settings)
    member = await create_user(db, settings)
    account_id = await insert_account(db, user_id=owner.id)
    await db.execute("insert into ad_account_members (account_id, user_id, role) values ($1, $2, 'viewer')",
                     account_id, member.id)  # fmt: skip
    csrf = await sign_in(client, owner.email)
    base = f"/accounts/{account_id}/members"
    status, _, html = await _post(client, base, {"_csrf": csrf, "email": "nobody@example.invalid", "role": "viewer"})
    assert status == 422 and "No active adsvc user has this email" in html
    status, _, html = await _post(client, base, {"_csrf": csrf, "email": member.email, "role": "manager"})
    assert status == 409 and "is already a member, as Viewer" in html
    status, _, html = await _post(client, base, {"_csrf": csrf, "email": member.email, "role": "emperor"})
    assert status == 422
    # the last owner can be neither demoted nor removed
    status, _, html = await _post(client, f"{base}/{owner.id}/role", {"_csrf": csrf, "role": "manager"})
    assert status == 409 and "must keep at least one owner" in html
    status, _, html = await _post(client, f"{base}/{owner.id}/remove", {"_csrf": csrf})
    assert status == 409 and "must keep at least one owner" in html
    assert await _roles(db, account_id) == {owner.id: "owner", member.id: "viewer"}
    assert await _member_audit(db, account_id) == []


async def test_an_owner_changes_a_role_and_removes_a_member_after_a_confirmation_page(client, db, settings):
    owner = await create_user(db, settings)
    member = await create_user(db, settings)
    account_id = await insert_account(db, user_id=owner.id)
    await db.execute("insert into ad_account_members (account_id, user_id, role) values ($1, $2, 'viewer')",
                     account_id, member.id)  # fmt: skip
    csrf = await sign_in(client, owner.email)
    base = f"/accounts/{account_id}/members"
    status, location, _ = await _post(client, f"{base}/{member.id}/role", {"_csrf": csrf, "role": "manager"})
    assert status == 303 and location.endswith("done=role")
    assert (await _roles(db, account_id))[member.id] == "manager"
    status, html = await page(client, f"{base}/{member.id}/remove")
    assert status == 200 and member.email in html and f'action="{base}/{member.id}/remove"' in html
    status, location, _ = await _post(client, f"{base}/{member.id}/remove", {"_csrf": csrf_of(html)})
    assert status == 303 and location.endswith("done=removed")
    # submitted twice: the second finds nobody to remove and changes nothing
    status, location, _ = await _post(client, f"{base}/{member.id}/remove", {"_csrf": csrf})
    assert status == 303
    assert member.id not in await _roles(db, account_id)
    entries = await _member_audit(db, account_id)
    assert [e["action"] for e in entries] == ["ad_account.member_role_change", "ad_account.member_remove"]
    assert entries[0]["before"]["role"] == "viewer" and entries[0]["after"]["role"] == "manager"


async def test_non_owners_read_the_members_list_and_are_refused_changes_with_403(client, db, settings):
    owner = await create_user(db, settings)
    analyst = await create_user(db, settings)
    account_id = await insert_account(db, user_id=owner.id)
    await db.execute("insert into ad_account_members (account_id, user_id, role) values ($1, $2, 'analyst')",
                     account_id, analyst.id)  # fmt: skip
    csrf = await sign_in(client, analyst.email)
    base = f"/accounts/{account_id}/members"
    status, html = await page(client, base)
    assert status == 200 and owner.email in html and analyst.email in html
    assert "Add a member" not in html and f"{base}/{owner.id}/role" not in html
    assert f"{base}/{analyst.id}/remove" in html  # they may leave
    assert (await _post(client, base, {"_csrf": csrf, "email": owner.email, "role": "viewer"}))[0] == 403
    assert (await _post(client, f"{base}/{owner.id}/role", {"_csrf": csrf, "role": "viewer"}))[0] == 403
    assert (await _post(client, f"{base}/{owner.id}/remove", {"_csrf": csrf}))[0] == 403
    assert (await page(client, f"{base}/{owner.id}/remove"))[0] == 403
    status, location, _ = await _post(client, f"{base}/{analyst.id}/remove", {"_csrf": csrf})
    assert status == 303 and location == "/accounts"
    assert await _roles(db, account_id) == {owner.id: "owner"}
    assert [e["action"] for e in await _member_audit(db, account_id)] == ["ad_account.member_leave"]


async def test_another_users_account_is_a_404_on_every_members_page_and_post(client, db, settings):
    owner = await create_user(db, settings)
    stranger = await create_user(db, settings)
    account_id = await insert_account(db, user_id=owner.id)
    csrf = await sign_in(client, stranger.email)
    base = f"/accounts/{account_id}/members"
    assert (await page(client, base))[0] == 404
    assert (await page(client, f"{base}/{owner.id}/remove"))[0] == 404
    assert (await page(client, "/accounts/999999999999999/members"))[0] == 404
    posts = [
        (base, {"email": stranger.email, "role": "owner"}),
        (f"{base}/{owner.id}/role", {"role": "viewer"}),
        (f"{base}/{owner.id}/remove", {}),
    ]
    for path, data in posts:
        status, _, html = await _post(client, path, {"_csrf": csrf, **data})
        assert status == 404 and "Page not found" in html
    assert await _roles(db, account_id) == {owner.id: "owner"}


async def test_member_changes_without_the_csrf_token_are_refused(client, db, settings):
    owner = await create_user(db, settings)
    newcomer = await create_user(db, settings)
    account_id = await insert_account(db, user_id=owner.id)
    await sign_in(client, owner.email)
    status, _, _ = await _post(client, f"/accounts/{account_id}/members", {"email": newcomer.email, "role": "viewer"})
    assert status == 403
    status, _, _ = await _post(client, f"/accounts/{account_id}/members/{owner.id}/remove", {"_csrf": "forged"})
    assert status == 403
    assert await _roles(db, account_id) == {owner.id: "owner"}


async def test_the_members_page_speaks_portuguese(client, db, settings):
    owner = await create_user(db, settings)
    account_id = await insert_account(db, user_id=owner.id)
    await sign_in(client, owner.email)
    status, html = await page(client, f"/accounts/{account_id}/members", headers={"Accept-Language": "pt-BR"})
    assert status == 200
    assert "Membros de" in html and "Adicionar membro" in html and "Proprietário" in html
