"""`GET /v1/organization`: the organization's credit balance, tier limits and usage (Runway direct only).

Shape as Runway's API reference gives it (`runway-api-2026.md`: "returns the organization's credit
balance and usage"; field names as in Runway's official SDKs): `creditBalance`, `tier` with
`maxMonthlyCreditSpend` and per-model `maxConcurrentGenerations` / `maxDailyGenerations`, and
`usage.models.<model>.dailyGenerations`. The sandbox reports its configured balance and counts the
tasks created on Runway's prefix in the last 24 hours of its clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from runway_mcp.sandbox.config import SandboxConfig
from runway_mcp.sandbox.tasks import Task

DAY_SECONDS: Final = 86400.0
MAX_MONTHLY_CREDIT_SPEND: Final = 100_000
MAX_CONCURRENT: Final = 2
MAX_DAILY: Final = 200


def organization_json(config: SandboxConfig, tasks: Iterable[Task], now: float) -> dict[str, Any]:
    """The body of GET /v1/organization."""
    daily: dict[str, int] = {}
    for task in tasks:
        if task.prefix == "runway" and now - task.created < DAY_SECONDS:
            daily[task.model] = daily.get(task.model, 0) + 1
    limits = {"maxConcurrentGenerations": MAX_CONCURRENT, "maxDailyGenerations": MAX_DAILY}
    return {
        "creditBalance": config.credit_balance,
        "tier": {"maxMonthlyCreditSpend": MAX_MONTHLY_CREDIT_SPEND, "models": {m: dict(limits) for m in daily}},
        "usage": {"models": {m: {"dailyGenerations": n} for m, n in daily.items()}},
    }
