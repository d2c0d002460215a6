"""An ad account's members: owners add them by email, change their roles and remove them; any member can leave;
the last owner stays; administrators manage every account; non-members learn nothing (404, exactly as for an
account that does not exist); every change is audited once, and a retried change changes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from accounts.helpers import Caller, insert_account, new_caller

MISSING_ACCOUNT = "999999999999999"


def members_path(account_id: str, user_id: int | None = None) -> str:
    base = f"/api/v1/ad-accounts/{account_id}/members"
    return base if user_id is None else f"{base}/{user_id}"


async def call(client: Any, caller: Caller, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    response = await client.request(method, path, json=body, headers=caller.headers)
    return response.status, await response.json()


async def roles(db: Any, account_id: str) -> dict[int, str]:
    rows = await db.fetch("select user_id, role from ad_account_members where account_id = $1", account_id)
    return {row["user_id"]: row["role"] for row in rows}


async def member_audit(db: Any, account_id: str) -> list[Any]:
    return await db.fetch(
        """select action, actor_id, outcome, before, after from audit_log
           where target_type = 'ad_account' and target_id = $1 and action like 'ad_account.member%' order by id""",
        account_id,
    )


async def join(db: Any, account_id: str, caller: Caller, role: str) -> None:
    await db.execute(
        "insert into ad_account_members (account_id, user_id, role) values ($1, $2, $3)",
        account_id, caller.user.id, role,
    )  # fmt: skip


@pytest.fixture
async def team(client, db, settings) -> dict[str, Any]:
    """A synthetic account with one owner, and a user who is not a member yet."""
    owner = await new_caller(client, db, settings)
    outsider = await new_caller(client, db, settings)
    account_id = await insert_account(db, user_id=owner.user.id, role="owner")
    return {"owner": owner, "outsider": outsider, "account_id": account_id}


async def test_an_owner_adds_a_member_by_email_in_any_case_who_then_sees_the_account_with_that_role(client, db, team):
    owner, newcomer, account_id = team["owner"], team["outsider"], team["account_id"]

    status, body = await call(client, owner, "POST", members_path(account_id),
                              {"email": newcomer.user.email.upper(), "role": "analyst"})  # fmt: skip

    assert status == 201, body
    assert (body["user_id"], body["email"], body["role"]) == (newcomer.user.id, newcomer.user.email, "analyst")
    assert body["added_at"]
    listed = await client.get("/api/v1/ad-accounts", headers=newcomer.headers)
    assert [(a["id"], a["role"]) for a in (await listed.json())["data"]] == [(account_id, "analyst")]
    status, members = await call(client, newcomer, "GET", members_path(account_id))
    assert status == 200  # any member sees who else can see the account
    assert [(m["user_id"], m["role"]) for m in members["data"]] == sorted(
        [(owner.user.id, "owner"), (newcomer.user.id, "analyst")]
    )
    (audited,) = await member_audit(db, account_id)
    assert (audited["action"], audited["actor_id"], audited["outcome"]) == ("ad_account.member_add", owner.user.id,
                                                                            "success")  # fmt: skip
    assert audited["after"] == {"user_id": newcomer.user.id, "email": newcomer.user.email, "role": "analyst"}


async def test_adding_a_member_again_with_the_same_role_is_a_200_that_changes_and_audits_nothing(client, db, team):
    owner, newcomer, account_id = team["owner"], team["outsider"], team["account_id"]
    body = {"email": newcomer.user.email, "role": "viewer"}
    first_status, first = await call(client, owner, "POST", members_path(account_id), body)
    assert first_status == 201

    retried_status, retried = await call(client, owner, "POST", members_path(account_id), body)

    assert retried_status == 200
    assert retried == first
    assert len(await member_audit(db, account_id)) == 1
    # another role for someone already a member is not a silent change: roles change with PATCH
    status, error = await call(client, owner, "POST", members_path(account_id),
                               {"email": newcomer.user.email, "role": "owner"})  # fmt: skip
    assert status == 409
    assert error["error"]["code"] == "already_a_member"
    assert error["error"]["details"] == {"user_id": newcomer.user.id, "role": "viewer"}
    assert (await roles(db, account_id))[newcomer.user.id] == "viewer"


async def test_adding_an_email_of_no_active_user_is_a_422_unknown_user(client, db, settings, team):
    owner, account_id = team["owner"], team["account_id"]
    disabled = await new_caller(client, db, settings)
    await db.execute("update users set is_active = false where id = $1", disabled.user.id)

    for email in ("nobody-at-all@example.com", disabled.user.email):
        status, error = await call(client, owner, "POST", members_path(account_id), {"email": email, "role": "viewer"})
        assert status == 422, email
        assert error["error"]["code"] == "unknown_user"
        assert error["error"]["details"][0]["loc"] == ["body", "email"]
    assert set(await roles(db, account_id)) == {owner.user.id}
    assert await member_audit(db, account_id) == []


@pytest.mark.parametrize(
    "body",
    [
        {"email": "x@example.com", "role": "boss"},
        {"email": "x@example.com", "role": 1},
        {"email": "x@example.com"},
        {"email": "not an email", "role": "viewer"},
        {"email": "x@example.com", "role": "viewer", "is_admin": True},
    ],
)
async def test_a_malformed_add_is_a_422(client, team, body):
    status, error = await call(client, team["owner"], "POST", members_path(team["account_id"]), body)
    assert status == 422
    assert error["error"]["code"] == "validation_failed"


async def test_an_owner_changes_a_role_audited_with_before_and_after_and_the_same_role_again_changes_nothing(
    client, db, team
):
    owner, member, account_id = team["owner"], team["outsider"], team["account_id"]
    await join(db, account_id, member, "viewer")

    status, body = await call(client, owner, "PATCH", members_path(account_id, member.user.id), {"role": "manager"})

    assert status == 200, body
    assert (body["user_id"], body["role"]) == (member.user.id, "manager")
    assert (await roles(db, account_id))[member.user.id] == "manager"
    promoted = await client.post(f"/api/v1/ad-accounts/{account_id}/sync", json={}, headers=member.headers)
    assert promoted.status != 403  # the new role is in force at once
    again_status, again = await call(client, owner, "PATCH", members_path(account_id, member.user.id),
                                     {"role": "manager"})  # fmt: skip
    assert (again_status, again) == (200, body)
    (audited,) = await member_audit(db, account_id)
    assert (audited["action"], audited["actor_id"]) == ("ad_account.member_role_change", owner.user.id)
    assert (audited["before"]["role"], audited["after"]["role"]) == ("viewer", "manager")
    assert audited["before"]["user_id"] == audited["after"]["user_id"] == member.user.id


async def test_changing_the_role_of_someone_who_is_not_a_member_is_a_404_member_not_found(client, team):
    status, error = await call(client, team["owner"], "PATCH", members_path(team["account_id"],
                               team["outsider"].user.id), {"role": "viewer"})  # fmt: skip
    assert status == 404
    assert error["error"]["message"] == "member not found"


async def test_the_last_owner_can_neither_be_demoted_nor_removed_nor_leave_not_even_by_an_admin(
    client, db, settings, team
):
    owner, account_id = team["owner"], team["account_id"]
    admin = await new_caller(client, db, settings, is_admin=True)
    attempts = [
        (owner, "PATCH", {"role": "manager"}),
        (owner, "DELETE", None),
        (admin, "PATCH", {"role": "viewer"}),
        (admin, "DELETE", None),
    ]
    for caller, method, body in attempts:
        status, error = await call(client, caller, method, members_path(account_id, owner.user.id), body)
        assert status == 409, (caller, method)
        assert error["error"]["code"] == "last_owner"
        assert "last owner" in error["error"]["message"]
    assert await roles(db, account_id) == {owner.user.id: "owner"}
    assert await member_audit(db, account_id) == []


async def test_with_a_second_owner_an_owner_can_step_down_and_then_the_other_is_the_last(client, db, team):
    first, second, account_id = team["owner"], team["outsider"], team["account_id"]
    status, _ = await call(client, first, "POST", members_path(account_id),
                           {"email": second.user.email, "role": "owner"})  # fmt: skip
    assert status == 201

    status, body = await call(client, first, "PATCH", members_path(account_id, first.user.id), {"role": "viewer"})
    assert (status, body["role"]) == (200, "viewer")
    # a viewer now: no more managing members
    status, _ = await call(client, first, "PATCH", members_path(account_id, second.user.id), {"role": "viewer"})
    assert status == 403
    status, error = await call(client, second, "DELETE", members_path(account_id, second.user.id))
    assert (status, error["error"]["code"]) == (409, "last_owner")
    assert await roles(db, account_id) == {first.user.id: "viewer", second.user.id: "owner"}


async def test_two_owners_demoting_each_other_at_once_leave_exactly_one_owner(client, db, stack, team):
    first, second, account_id = team["owner"], team["outsider"], team["account_id"]
    await join(db, account_id, second, "owner")
    # Hold the account row as a membership change does, so both requests reach the database before either is done:
    # without a lock of their own they would both count two owners and both demote.
    holder = await asyncpg.connect(stack.database_url)
    transaction = holder.transaction()
    await transaction.start()
    await holder.execute("select 1 from ad_accounts where id = $1 for no key update", account_id)
    requests = [
        asyncio.ensure_future(
            call(client, first, "PATCH", members_path(account_id, second.user.id), {"role": "viewer"})
        ),
        asyncio.ensure_future(
            call(client, second, "PATCH", members_path(account_id, first.user.id), {"role": "viewer"})
        ),
    ]
    try:
        waiting = 0
        for _ in range(500):
            waiting = await db.fetchval(
                "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()"
            )
            if waiting >= 2 or all(request.done() for request in requests):
                break
            await asyncio.sleep(0.01)
        assert waiting == 2, [request.result() for request in requests if request.done()]  # both wait their turn
    finally:
        await transaction.commit()
        await holder.close()
    results = await asyncio.gather(*requests)

    statuses = sorted(status for status, _ in results)
    # the one that goes second is either no longer an owner (403) or would demote the last owner (409)
    assert statuses[0] == 200 and statuses[1] in (403, 409), results
    assert list((await roles(db, account_id)).values()).count("owner") == 1


async def test_any_member_can_leave_and_then_no_longer_sees_the_account(client, db, team):
    owner, viewer, account_id = team["owner"], team["outsider"], team["account_id"]
    await join(db, account_id, viewer, "viewer")

    status, body = await call(client, viewer, "DELETE", members_path(account_id, viewer.user.id))

    assert status == 200, body
    assert body == {"account_id": account_id, "user_id": viewer.user.id, "removed": True}
    assert set(await roles(db, account_id)) == {owner.user.id}
    assert (await client.get(f"/api/v1/ad-accounts/{account_id}", headers=viewer.headers)).status == 404
    # a retried leave: the account is not theirs to see any more
    status, _ = await call(client, viewer, "DELETE", members_path(account_id, viewer.user.id))
    assert status == 404
    (audited,) = await member_audit(db, account_id)
    assert (audited["action"], audited["actor_id"]) == ("ad_account.member_leave", viewer.user.id)
    assert audited["before"] == {"user_id": viewer.user.id, "email": viewer.user.email, "role": "viewer"}


async def test_an_owner_removes_a_member_who_loses_access_and_a_retried_removal_is_a_200_that_removes_nothing(
    client, db, team
):
    owner, manager, account_id = team["owner"], team["outsider"], team["account_id"]
    await join(db, account_id, manager, "manager")

    status, body = await call(client, owner, "DELETE", members_path(account_id, manager.user.id))
    assert (status, body["removed"]) == (200, True)
    assert (await client.get(f"/api/v1/ad-accounts/{account_id}", headers=manager.headers)).status == 404

    status, body = await call(client, owner, "DELETE", members_path(account_id, manager.user.id))
    assert (status, body["removed"]) == (200, False)
    audited = await member_audit(db, account_id)
    assert [(row["action"], row["actor_id"]) for row in audited] == [("ad_account.member_remove", owner.user.id)]


@pytest.mark.parametrize("role", ["manager", "analyst", "viewer"])
async def test_members_who_are_not_owners_get_403_on_adding_changing_and_removing_others(
    client, db, settings, team, role
):
    owner, member, account_id = team["owner"], team["outsider"], team["account_id"]
    await join(db, account_id, member, role)
    candidate = await new_caller(client, db, settings)
    before = await roles(db, account_id)

    attempts = [
        ("POST", members_path(account_id), {"email": candidate.user.email, "role": "viewer"}),
        ("PATCH", members_path(account_id, owner.user.id), {"role": "viewer"}),
        ("PATCH", members_path(account_id, member.user.id), {"role": "owner"}),  # not even themself
        ("DELETE", members_path(account_id, owner.user.id), None),
    ]
    for method, path, body in attempts:
        status, error = await call(client, member, method, path, body)
        assert status == 403, (method, path)
        assert error["error"]["code"] == "forbidden"
    assert await roles(db, account_id) == before
    assert await member_audit(db, account_id) == []
    status, _ = await call(client, member, "GET", members_path(account_id))
    assert status == 200


async def test_another_users_account_answers_404_on_every_members_endpoint_as_a_missing_account_does(
    client, db, settings, team
):
    alice, bob = team["owner"], team["outsider"]
    alices = team["account_id"]
    bobs = await insert_account(db, user_id=bob.user.id, role="owner")
    before = await roles(db, alices)

    def attempts(account_id: str) -> list[tuple[str, str, Any]]:
        return [
            ("GET", members_path(account_id), None),
            ("POST", members_path(account_id), {"email": bob.user.email, "role": "owner"}),
            ("PATCH", members_path(account_id, alice.user.id), {"role": "viewer"}),
            ("DELETE", members_path(account_id, alice.user.id), None),
            ("DELETE", members_path(account_id, bob.user.id), None),  # "leaving" an account one is not in
        ]

    for (method, path, body), (_, missing, _) in zip(attempts(alices), attempts(MISSING_ACCOUNT), strict=True):
        status, error = await call(client, bob, method, path, body)
        missing_status, missing_error = await call(client, bob, method, missing, body)
        assert status == missing_status == 404, (method, path)
        assert error["error"]["code"] == missing_error["error"]["code"] == "not_found"
        assert error["error"]["message"] == missing_error["error"]["message"]
    assert await roles(db, alices) == before
    assert await member_audit(db, alices) == []
    # and Bob's own account works for Bob
    status, body = await call(client, bob, "GET", members_path(f"act_{bobs}"))
    assert (status, [m["user_id"] for m in body["data"]]) == (200, [bob.user.id])


async def test_an_admin_manages_the_members_of_an_account_they_are_not_in(client, db, settings, team):
    owner, newcomer, account_id = team["owner"], team["outsider"], team["account_id"]
    admin = await new_caller(client, db, settings, is_admin=True)

    status, listed = await call(client, admin, "GET", members_path(account_id))
    assert (status, [m["user_id"] for m in listed["data"]]) == (200, [owner.user.id])
    status, _ = await call(client, admin, "POST", members_path(account_id),
                           {"email": newcomer.user.email, "role": "viewer"})  # fmt: skip
    assert status == 201
    status, body = await call(client, admin, "PATCH", members_path(account_id, newcomer.user.id), {"role": "owner"})
    assert (status, body["role"]) == (200, "owner")
    status, body = await call(client, admin, "DELETE", members_path(account_id, owner.user.id))
    assert (status, body["removed"]) == (200, True)

    assert await roles(db, account_id) == {newcomer.user.id: "owner"}
    assert admin.user.id not in await roles(db, account_id)  # managing does not make the admin a member
    audited = await member_audit(db, account_id)
    assert [(row["action"], row["actor_id"]) for row in audited] == [
        ("ad_account.member_add", admin.user.id),
        ("ad_account.member_role_change", admin.user.id),
        ("ad_account.member_remove", admin.user.id),
    ]
    status, _ = await call(client, admin, "GET", members_path(MISSING_ACCOUNT))
    assert status == 404


async def test_the_member_list_pages_by_user_id(client, db, settings, team):
    owner, account_id = team["owner"], team["account_id"]
    for role in ("viewer", "analyst", "manager"):
        await join(db, account_id, await new_caller(client, db, settings), role)
    everyone = sorted(await roles(db, account_id))

    walked: list[int] = []
    query: dict[str, Any] = {"limit": 3}
    while True:
        response = await client.get(members_path(account_id), params=query, headers=owner.headers)
        assert response.status == 200
        page = await response.json()
        walked.extend(member["user_id"] for member in page["data"])
        if page["next_after_id"] is None:
            break
        query = {"limit": 3, "after_id": page["next_after_id"]}
    assert walked == everyone
