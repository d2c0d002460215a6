"""Housekeeping jobs: the worker heartbeat the status page reads, and planned actions nobody will finish."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from adsvc.automation.executor import abandon_stale_actions
from adsvc.status.workers import WorkerBeat, record_heartbeat


async def heartbeat(ctx: dict[str, Any]) -> dict[str, Any]:
    """Record that this worker is alive; the status page lists workers whose beat is recent."""
    beat = WorkerBeat(
        worker_id=ctx["worker_id"],
        host=socket.gethostname(),
        pid=os.getpid(),
        started_at=ctx["started_at"],
        beat_at=time.time(),
    )
    await record_heartbeat(ctx["app_redis"], beat)
    return {"worker_id": beat.worker_id, "beat_at": beat.beat_at}


async def sweep_stale_actions(ctx: dict[str, Any]) -> dict[str, Any]:
    abandoned = await abandon_stale_actions(ctx["pg"])
    return {"abandoned": [action.id for action in abandoned]}
