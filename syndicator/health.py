"""Health that tells the truth: which loop of which hub has not completed a pass in time, and whether the
store answers. Shared by ``/healthz``, ``status``, the metrics and the dashboard.

``/healthz`` is readiness ("is this hub doing its work?"): 503 naming the loop and why. ``/livez`` is liveness
("is the process answering at all?"): a process supervisor restarts on it, so it must not fail merely because
the database is down — a restart would not bring the database back.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from syndicator.store import Store
from syndicator.supervisor import Supervisor

STORE_PING_S = 3.0


async def store_problem(store: Any) -> str | None:
    """Why the store cannot be used right now (Simplified Chinese), or None."""
    try:
        async with asyncio.timeout(STORE_PING_S):
            await store.ping()
    except Exception as exc:
        return f"数据库无法访问：{type(exc).__name__}: {exc}"[:300]
    return None


async def readiness(supervisor: Supervisor, store: Store, instance_id: str) -> dict[str, Any]:
    """This hub's health: ``ok``, the problems by loop (``store`` for the database), each loop's last pass."""
    problems = supervisor.problems()
    problem = await store_problem(store)
    if problem is not None:
        problems["store"] = problem
    return {"ok": not problems, "instance": instance_id, "problems": problems, "loops": supervisor.snapshot()}


def hub_health(rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Every hub on the database as its heartbeat row tells it (for `status` run from any process)."""
    out = []
    for row in rows:
        problems = {name: loop["problem"] for name, loop in row["loops"].items() if loop.get("problem")}
        expired = row["expires_at"] < now
        if expired:
            problems["heartbeat"] = (f"心跳已于 {row['expires_at'].isoformat()} 过期："
                                     "该实例已停止或失联，其发送中的投递由其他实例接管")
        out.append({"instance": row["instance_id"], "started_at": row["started_at"],
                    "heartbeat_at": row["heartbeat_at"], "alive": not expired, "problems": problems,
                    "loops": row["loops"]})
    return out
