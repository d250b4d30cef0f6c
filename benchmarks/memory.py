"""Scenario 5, memory: peak RSS of a stdio server idle, after many get_task calls, and while sending local files.

Figures come from /proc/<pid>/status of the server process (VmHWM, the peak RSS, and VmRSS).
Before each measured phase the peak is reset to the current RSS (`5` written to
/proc/<pid>/clear_refs), so a phase's peak is its own and not start-up's; where the kernel refuses,
the start-up peak is used instead and the increase can only be understated (noted in the JSON).
Each file size gets a fresh server process. The idle peak is compared with a hello-world MCPServer.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import (
    MIB,
    Row,
    RunOptions,
    ScenarioResult,
    call,
    create_task,
    hello_params,
    memory_status,
    ratio,
    reset_peak,
    running_sandbox,
    runway_mcp_params,
    sandbox_config,
    server_env,
    stdio_server,
    succeeded_task,
    until_serving,
    write_mp4,
)

# The sandbox takes data URIs up to 16 MiB decoded; stay just under it.
SIXTEEN_MB_MARGIN = 1024


def file_sizes(quick: bool) -> list[int]:
    if quick:
        return [1 * MIB, 4 * MIB]
    return [1 * MIB, 8 * MIB, 16 * MIB - SIXTEEN_MB_MARGIN]


def increase(before: dict[str, int], after: dict[str, int], peak_was_reset: bool) -> int:
    """How far the peak rose over the resting RSS (or over the old peak, when it could not be reset)."""
    start = before["VmRSS"] if peak_was_reset else before["VmHWM"]
    return max(after["VmHWM"] - start, 0)


async def run(options: RunOptions) -> ScenarioResult:
    calls = 200 if options.quick else 1000
    result = ScenarioResult("memory", "Memory: peak RSS (stdio)")
    home = options.workdir / "memory"
    with running_sandbox(sandbox_config()) as (sandbox_server, _):
        env = server_env(sandbox_server.url, home)
        async with stdio_server(hello_params(env), options.errlog) as hello:
            await hello.client.list_tools()
            hello_idle = memory_status(hello.pid)

        async with stdio_server(runway_mcp_params(env), options.errlog) as server:
            await server.client.list_tools()
            await until_serving(server.client)
            idle = memory_status(server.pid)
            task_id = await succeeded_task(server.client)
            before_gets = memory_status(server.pid)
            gets_reset = reset_peak(server.pid)
            for _ in range(calls):
                await call(server.client, "get_task", {"task_id": task_id})
            after_gets = memory_status(server.pid)

        files: list[dict[str, Any]] = []
        for size in file_sizes(options.quick):
            path = write_mp4(home / "media" / f"clip-{size}.mp4", size)
            async with stdio_server(runway_mcp_params(env), options.errlog) as server:
                await server.client.list_tools()
                # The server opens its upstream client (TLS context and all) on the first upstream call:
                # a free read does that first, so the idle baseline is a server that has talked upstream.
                await call(server.client, "get_task", {"task_id": task_id})
                before = memory_status(server.pid)
                was_reset = reset_peak(server.pid)
                await create_task(server.client, prompt="Make it look like a snowy night", video_uri=str(path))
                after = memory_status(server.pid)
                # The same file again, in the same process: what the file itself costs once the code paths are warm.
                before_again = memory_status(server.pid)
                reset_again = reset_peak(server.pid)
                await create_task(server.client, prompt="Make it look like a snowy night", video_uri=str(path))
                after_again = memory_status(server.pid)
            sent = sandbox_server.sandbox.api_requests(method="POST")
            received = len(sent[-1].body) if sent else 0
            sandbox_server.sandbox.reset()  # the recorded bodies are tens of MB held in this process
            path.unlink()
            grown = increase(before, after, was_reset)
            grown_again = increase(before_again, after_again, reset_again)
            files.append(
                {
                    "file_bytes": size,
                    "request_body_bytes": received,
                    "idle": before,
                    "after": after,
                    "peak_reset": was_reset,
                    "increase_bytes": grown,
                    "increase_over_file_size": round(grown / size, 3),
                    "second_send_increase_bytes": grown_again,
                    "second_send_increase_over_file_size": round(grown_again / size, 3),
                }
            )

    gets_growth = increase(before_gets, after_gets, gets_reset)
    result.figures = {
        "hello_world_idle": hello_idle,
        "idle": idle,
        "get_task_calls": calls,
        "before_gets": before_gets,
        "after_gets": after_gets,
        "gets_peak_reset": gets_reset,
        "gets_increase_bytes": gets_growth,
        "files": files,
    }
    result.rows = [
        Row(
            "idle peak RSS (MiB)",
            idle["VmHWM"] / MIB,
            "MiB",
            hello_idle["VmHWM"] / MIB,
            "hello-world MCPServer idle",
            ratio(idle["VmHWM"], hello_idle["VmHWM"]),
        ),
        Row(
            f"peak increase over {calls} get_task (MiB)",
            gets_growth / MIB,
            "MiB",
            idle["VmHWM"] / MIB,
            "idle peak",
            ratio(gets_growth, idle["VmHWM"]),
        ),
    ]
    for entry in files:
        size_mib = entry["file_bytes"] / MIB
        result.rows.append(
            Row(
                f"peak increase sending a {size_mib:.0f} MB local file (MiB)",
                entry["increase_bytes"] / MIB,
                "MiB",
                size_mib,
                "file size",
                entry["increase_over_file_size"],
                "ratio < 1.0",
                entry["increase_over_file_size"] < 1.0,
            )
        )
    second = ", ".join(
        f"{f['file_bytes'] / MIB:.0f} MB +{f['second_send_increase_bytes'] / MIB:.2f} MiB" for f in files
    )
    result.notes = [
        "Each file is sent by a fresh server whose idle baseline is taken after one get_task (so the upstream "
        "client, created on first use, is not counted against the file); its first create still pays first-use "
        f"costs such as the worker thread that reads the file. Then once more by the same process: {second}.",
        "Server pid: found by a unique tag in the child's environment (/proc/<pid>/environ); peaks from VmHWM after "
        "a reset through /proc/<pid>/clear_refs"
        + ("." if all(f["peak_reset"] for f in files) and gets_reset else " (refused here: start-up peaks used)."),
    ]
    return result
