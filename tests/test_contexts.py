"""The PostgreSQL pool as the app builds it: released connections come back without the state a borrower left."""

from __future__ import annotations

from adsvc.contexts import create_pg_pool


async def test_a_transaction_left_open_is_rolled_back_when_the_connection_returns_to_the_pool(settings):
    pool = await create_pg_pool(settings)
    try:
        async with pool.acquire() as conn:
            await conn.execute("begin")
            await conn.execute("create table left_open (id int)")
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("select to_regclass('left_open')") is None
            assert await conn.fetchval("show timezone") == "UTC"
    finally:
        await pool.close()
