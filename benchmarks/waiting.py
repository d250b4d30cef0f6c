"""Scenario 4, waiting efficiency: how often wait_for_task polls the upstream, and how late it notices the end.

An agent calls wait_for_task again and again (timeout_seconds=50 each) until the task is done. For
each task the sandbox's request log gives the upstream GETs made for it, and its config gives the
moment the task turned SUCCEEDED (created + not visible + pending + running), to compare with the
moment the tool returned. The full run uses the real 5 s poll interval and runs its three tasks
(20, 60 and 180 s) at once, each with its own server; the quick run scales everything down.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Any

import anyio

from benchmarks.harness import (
    Row,
    RunOptions,
    ScenarioResult,
    create_task,
    finished_at,
    ratio,
    running_sandbox,
    runway_mcp_params,
    sandbox_config,
    server_env,
    stdio_server,
)
from runway_mcp.sandbox import Sandbox


@dataclass(frozen=True)
class Plan:
    """The sizes of one run: task lengths, the server's poll interval and each wait call's timeout."""

    totals: tuple[float, ...]
    not_visible: float
    pending: float
    poll_interval: float
    wait_timeout: float


FULL = Plan(totals=(20.0, 60.0, 180.0), not_visible=1.0, pending=2.0, poll_interval=5.0, wait_timeout=50.0)
# Short enough for CI, with a wait timeout under the task's length so the agent has to call again.
QUICK = Plan(totals=(6.0,), not_visible=0.5, pending=0.5, poll_interval=1.0, wait_timeout=3.0)


async def follow_task(
    sandbox: Sandbox, env: dict[str, str], length: float, plan: Plan, options: RunOptions
) -> dict[str, Any]:
    """Create one task of `length` seconds and call wait_for_task until it is terminal."""
    running = length - plan.not_visible - plan.pending
    notifications: list[float] = []
    call_seconds: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notifications.append(progress)

    async with stdio_server(runway_mcp_params(env), options.errlog) as server:
        task_id = await create_task(server.client, prompt=f"A snowy night sandbox:seconds={running:g}")
        status, returned = "", math.nan
        with anyio.fail_after(length + 2 * plan.wait_timeout + 60):
            for _ in range(math.ceil(length / plan.wait_timeout) + 5):
                start = time.monotonic()
                result = await server.client.call_tool(
                    "wait_for_task",
                    {"task_id": task_id, "timeout_seconds": plan.wait_timeout},
                    progress_callback=on_progress,
                )
                call_seconds.append(time.monotonic() - start)
                if result.is_error or result.structured_content is None:
                    raise RuntimeError(f"wait_for_task failed: {result.content}")
                status = result.structured_content["status"]
                if result.structured_content["terminal"]:
                    returned = time.monotonic()
                    break
    done_at = finished_at(sandbox, task_id)
    gets = sorted(r.time for r in sandbox.api_requests(method="GET", path_contains=task_id))
    gaps = [later - earlier for earlier, later in itertools.pairwise(gets)]
    span = returned - (done_at - length)
    # The rate between the first and the last GET: counting GETs over the whole span would charge the
    # immediate first look as if it had taken a whole interval (a fencepost, large for short tasks).
    rate = (len(gets) - 1) / ((gets[-1] - gets[0]) / plan.poll_interval) if len(gets) > 1 else math.nan
    return {
        "task_seconds": length,
        "status": status,
        "wait_calls": len(call_seconds),
        "wait_call_seconds": [round(seconds, 3) for seconds in call_seconds],
        "progress_notifications": len(notifications),
        "upstream_gets": len(gets),
        "span_s": round(span, 3),
        "gets_per_poll_interval": round(rate, 3),
        "gets_per_poll_interval_over_whole_span": round(len(gets) / (span / plan.poll_interval), 3),
        "return_delay_s": round(returned - done_at, 3),
        "min_gap_s": round(min(gaps), 3) if gaps else None,
        "gaps_under_interval": sum(1 for gap in gaps if gap < plan.poll_interval - 0.5),
    }


async def run(options: RunOptions) -> ScenarioResult:
    plan = QUICK if options.quick else FULL
    result = ScenarioResult("waiting", "Waiting: wait_for_task")
    config = sandbox_config(not_visible_seconds=plan.not_visible, pending_seconds=plan.pending)
    outcomes: dict[float, dict[str, Any]] = {}
    with running_sandbox(config) as (sandbox_server, _):

        async def one(total: float) -> None:
            home = options.workdir / f"waiting-{total:g}"
            env = server_env(sandbox_server.url, home, RUNWAY_MCP_POLL_INTERVAL=f"{plan.poll_interval:g}")
            outcomes[total] = await follow_task(sandbox_server.sandbox, env, total, plan, options)

        async with anyio.create_task_group() as group:
            for total in plan.totals:
                group.start_soon(one, total)
    result.figures = {
        "poll_interval_s": plan.poll_interval,
        "wait_timeout_s": plan.wait_timeout,
        "not_visible_s": plan.not_visible,
        "pending_s": plan.pending,
        "tasks": [outcomes[total] for total in plan.totals],
    }
    per = "5 s" if plan.poll_interval == 5.0 else f"poll interval ({plan.poll_interval:g} s)"
    for total in plan.totals:
        outcome = outcomes[total]
        result.rows += [
            Row(
                f"{total:g} s task: upstream GETs per {per}",
                outcome["gets_per_poll_interval"],
                "ratio",
                target="<= 1",
                met=outcome["gets_per_poll_interval"] <= 1.0,
            ),
            Row(
                f"{total:g} s task: end to tool return (s)",
                outcome["return_delay_s"],
                "s",
                plan.poll_interval,
                "poll interval",
                ratio(outcome["return_delay_s"], plan.poll_interval),
                f"<= {plan.poll_interval:g} s",
                outcome["return_delay_s"] <= plan.poll_interval,
            ),
        ]
    longest = max(seconds for o in outcomes.values() for seconds in o["wait_call_seconds"])
    result.rows.append(
        Row(
            "longest single wait_for_task call (s)",
            longest,
            "s",
            plan.wait_timeout,
            "its timeout_seconds",
            ratio(longest, plan.wait_timeout),
        )
    )
    result.notes = [
        f"Poll interval {plan.poll_interval:g} s (no jitter), wait_for_task timeout "
        f"{plan.wait_timeout:g} s; tasks run concurrently, one stdio server each. GETs per interval are counted "
        "between the first and the last GET of a task.",
        *(
            f"{o['task_seconds']:g} s task: {o['upstream_gets']} GETs over {o['span_s']:.1f} s "
            f"({o['gets_per_poll_interval_over_whole_span']:.2f} per interval counted over the whole span), "
            f"{o['wait_calls']} wait calls lasting {o['wait_call_seconds']} s, {o['progress_notifications']} "
            f"progress notifications, shortest gap between GETs {o['min_gap_s']} s "
            f"({o['gaps_under_interval']} gaps well under the interval)."
            for o in (outcomes[total] for total in plan.totals)
        ),
    ]
    return result
