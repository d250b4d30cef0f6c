"""get_credit_balance: the Runway organization's credits and usage (GET /v1/organization). Free, read-only.

Only Runway direct has this route. With CometAPI the tool sends nothing and says where the balance is
instead: CometAPI bills in its own currency, on its own dashboard.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from mcp.server.mcpserver import Context

from runway_mcp.catalog import CREDIT_USD
from runway_mcp.errors import InputError
from runway_mcp.models import CreditBalance
from runway_mcp.tools.annotations import READS_UPSTREAM
from runway_mcp.tools.context import app_of, tool_errors
from runway_mcp.tools.registry import ToolRegistry

COMETAPI_BALANCE: Final = (
    "The credit balance is a Runway-direct route (GET /v1/organization); CometAPI does not offer it and bills "
    "in its own currency, so nothing was sent. See the balance and usage on your CometAPI account's dashboard "
    "(list_tasks shows what this server created). With a Runway API key, set RUNWAY_MCP_PROVIDER=runway to "
    "read Runway's credits here."
)


def register_account_tools(tools: ToolRegistry) -> None:
    """Add get_credit_balance."""
    tools.tool(title="Show the Runway credit balance and usage", annotations=READS_UPSTREAM)(get_credit_balance)


async def get_credit_balance(ctx: Context) -> CreditBalance:
    """Runway credits left and today's tasks by model (Runway direct only). Free."""
    app = app_of(ctx)
    with tool_errors():
        if app.settings.provider != "runway":
            raise InputError([COMETAPI_BALANCE])
        return credit_balance(await app.service.client.get_organization())


def credit_balance(organization: Mapping[str, Any]) -> CreditBalance:
    """The tool's answer from Runway's organization body (creditBalance, tier, usage.models)."""
    balance = float(organization["creditBalance"])
    tier = organization.get("tier")
    cap = tier.get("maxMonthlyCreditSpend") if isinstance(tier, Mapping) else None
    usage = organization.get("usage")
    models = usage.get("models") if isinstance(usage, Mapping) else None
    daily = {
        str(name): int(counts["dailyGenerations"])
        for name, counts in (models.items() if isinstance(models, Mapping) else ())
        if isinstance(counts, Mapping) and isinstance(counts.get("dailyGenerations"), int)
    }
    return CreditBalance(
        credit_balance=balance,
        usd_at_runway_prices=round(balance * CREDIT_USD, 2),
        max_monthly_credit_spend=float(cap) if isinstance(cap, int | float) and not isinstance(cap, bool) else None,
        daily_generations=daily,
    )
