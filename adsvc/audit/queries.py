"""SQL for the append-only audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

Executor: TypeAlias = asyncpg.Pool | asyncpg.Connection


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    occurred_at: datetime
    actor_id: int | None
    actor_label: str | None
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    before: Any
    after: Any
    details: Any
    client_addr: str | None
    request_id: str | None


async def insert_audit_entry(
    db: Executor,
    *,
    action: str,
    actor_id: int | None,
    actor_label: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    outcome: str = "success",
    before: Any = None,
    after: Any = None,
    details: Any = None,
    client_addr: str | None = None,
    request_id: str | None = None,
) -> int:
    entry_id: int = await db.fetchval(
        """
        insert into audit_log (actor_id, actor_label, action, target_type, target_id, outcome,
                               before, after, details, client_addr, request_id)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        returning id
        """,
        actor_id,
        actor_label,
        action,
        target_type,
        target_id,
        outcome,
        before,
        after,
        details,
        client_addr,
        request_id,
    )
    return entry_id


async def audit_entries_for_request(db: Executor, *, request_id: str) -> list[AuditEntry]:
    rows = await db.fetch(
        """
        select id, occurred_at, actor_id, actor_label, action, target_type, target_id, outcome,
               before, after, details, client_addr, request_id
        from audit_log where request_id = $1 order by id
        """,
        request_id,
    )
    return [AuditEntry(**dict(row)) for row in rows]
