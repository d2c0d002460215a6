"""The automation tests' world: the app with a synced sandbox account whose owner is a fresh user, its suggestions
generated, and every stored campaign as the sandbox holds it (restored afterwards for the other test modules)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from accounts.helpers import Caller, connect_ok, new_caller, run_worker_burst, sandbox_accounts, sandbox_state

from adsvc.app import create_app
from adsvc.keys import PG
from jobs.suggestions import generate_suggestions


@dataclass
class World:
    client: Any
    db: Any
    sandbox: Any
    owner: Caller
    account_id: str

    def node(self, object_id: str) -> Any:
        return sandbox_state(self.sandbox).data.nodes[object_id]

    @property
    def writes(self) -> int:
        return int(sandbox_state(self.sandbox).stats.by_kind["update"])

    async def suggestion(self, kind: str) -> dict[str, Any]:
        response = await self.client.get(
            "/api/v1/suggestions", params={"account_id": self.account_id, "kind": kind}, headers=self.owner.headers
        )
        body = await response.json()
        assert body["data"], f"no {kind} suggestion"
        return dict(body["data"][0])

    async def post(self, path: str, caller: Caller | None = None, **kwargs: Any) -> Any:
        headers = {**(caller or self.owner).headers, **kwargs.pop("headers", {})}
        return await self.client.post(path, headers=headers, **kwargs)


@asynccontextmanager
async def open_world(aiohttp_client, db, settings, stack, graph_sandbox, worker_env) -> AsyncIterator[World]:
    client = await aiohttp_client(create_app(settings))
    account_id = sandbox_accounts(graph_sandbox)[0].account_id
    owner = await new_caller(client, db, settings)
    if await db.fetchval("select last_insights_sync_at from ad_accounts where id = $1", account_id) is None:
        await connect_ok(client, owner, account_id)
        await run_worker_burst(stack)
    await db.execute(
        """insert into ad_account_members (account_id, user_id, role) values ($1, $2, 'owner')
           on conflict (account_id, user_id) do update set role = 'owner'""",
        account_id,
        owner.user.id,
    )
    # the stored campaigns as this fresh sandbox holds them, restored afterwards for the other test modules
    saved = await db.fetch("select id, status, effective_status, daily_budget from campaigns where account_id = $1",
                           account_id)  # fmt: skip
    for row in saved:
        node = sandbox_state(graph_sandbox).data.nodes[row["id"]]
        await db.execute("update campaigns set status = $2, effective_status = $2, daily_budget = $3 where id = $1",
                         row["id"], node.status, node.daily_budget)  # fmt: skip
    await db.execute("delete from actions where account_id = $1", account_id)
    await db.execute("delete from suggestions where account_id = $1", account_id)
    await db.execute("delete from automation_rules where account_id = $1", account_id)
    await generate_suggestions({"pg": client.app[PG]}, account_id)
    yield World(client=client, db=db, sandbox=graph_sandbox, owner=owner, account_id=account_id)
    await db.executemany(
        "update campaigns set status = $2, effective_status = $3, daily_budget = $4 where id = $1",
        [(r["id"], r["status"], r["effective_status"], r["daily_budget"]) for r in saved],
    )
    await db.execute("delete from actions where account_id = $1", account_id)
    await db.execute("delete from suggestions where account_id = $1", account_id)
    await db.execute("delete from automation_rules where account_id = $1", account_id)


async def add_member(world: World, settings: Any, role: str) -> Caller:
    caller = await new_caller(world.client, world.db, settings)
    await world.db.execute(
        "insert into ad_account_members (account_id, user_id, role) values ($1, $2, $3)",
        world.account_id, caller.user.id, role,
    )  # fmt: skip
    return caller
