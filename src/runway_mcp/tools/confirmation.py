"""Asking the user before a paid create (RUNWAY_MCP_CONFIRM_SPEND=1): through MCP elicitation, or in the player."""

from __future__ import annotations

from typing import Any

from mcp.server.apps import client_supports_apps
from mcp.server.elicitation import AcceptedElicitation
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Elicit
from pydantic import Field

from runway_mcp.catalog import DEFAULT_MODELS, Endpoint, get_model
from runway_mcp.errors import InputError
from runway_mcp.models import Schema
from runway_mcp.pricing import estimate
from runway_mcp.tools.context import app_of


class SpendConfirmation(Schema):
    """The user's answer when the server asks before spending credits."""

    confirm: bool = Field(description="Spend the credits and create the task?")


UNSUPPORTED_CONFIRMATION = "unsupported"
IN_PLAYER_CONFIRMATION = "in_player"


def confirm_spend_resolver(endpoints: tuple[Endpoint, ...]) -> Any:
    """A resolver asking the user to confirm a paid create (RUNWAY_MCP_CONFIRM_SPEND=1).

    It runs before the tool body. Where no confirmation is needed it answers yes by itself. A client
    that cannot show a form (no elicitation capability) but shows MCP Apps gets `in_player`: the tool
    sends nothing and the player asks the user (`tools/player.py`). For any other client it answers
    `unsupported`, which the tool turns into a clear refusal.
    """

    async def confirm_spend(ctx: Context, model: str | None, dry_run: bool) -> Any:
        app = app_of(ctx)
        if not app.settings.confirm_spend or dry_run:
            return SpendConfirmation(confirm=True)
        capabilities = ctx.client_capabilities
        elicitation = capabilities.elicitation if capabilities is not None else None
        if elicitation is None or (elicitation.form is None and elicitation.url is not None):
            return IN_PLAYER_CONFIRMATION if client_supports_apps(ctx) else UNSUPPORTED_CONFIRMATION
        name = model or DEFAULT_MODELS[endpoints[0]]
        # The tool's first route with this model (a tool may serve several routes: tools/routes.py).
        endpoint = next((e for e in endpoints if get_model(e, name) is not None), endpoints[0])
        spec = get_model(endpoint, name)
        if spec is not None and spec.length_from is not None and spec.credits_per_second is not None:
            # The clip is measured when the request is built, after this question: say the rate, not "unknown".
            cost = f"{spec.credits_per_second:g} credits per second of the clip in {spec.length_from}"
        else:
            cost = estimate(spec).basis if spec else "unknown"
        return Elicit(
            f"Create a paid Runway {endpoint.value} task with {name}? "
            f"Cost: {cost} (Runway list price; CometAPI bills its own).",
            SpendConfirmation,
        )

    confirm_spend.__name__ = f"confirm_spend_{endpoints[0].value}"
    return confirm_spend


def confirms_in_player(outcome: Any) -> bool:
    """True when the user is to confirm this create in the player, with nothing sent before their click."""
    return isinstance(outcome, AcceptedElicitation) and outcome.data == IN_PLAYER_CONFIRMATION


def check_confirmation(outcome: Any) -> None:
    if isinstance(outcome, AcceptedElicitation):
        data = outcome.data
        if data == UNSUPPORTED_CONFIRMATION:
            raise InputError(
                [
                    "This server asks the user to confirm every paid create (RUNWAY_MCP_CONFIRM_SPEND=1), but "
                    "this MCP client cannot show confirmation prompts (it supports neither MCP elicitation nor MCP "
                    "Apps). Use a client that supports either, or ask the server's owner to turn confirmation off."
                ]
            )
        if isinstance(data, SpendConfirmation) and data.confirm:
            return
    raise InputError(["The user did not confirm spending credits on this task, so nothing was created."])
