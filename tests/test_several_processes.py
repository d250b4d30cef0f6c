"""Several `runway-mcp` processes share one create journal (issue 14).

Three real stdio servers against the sandbox on loopback HTTP as the upstream, either on one SQLite data dir
(one host) or each with its own data dir and one PostgreSQL database (RUNWAY_MCP_DATABASE_URL: three hosts):
an idempotency key sends one create whichever process gets it and however many calls race for it; the daily
cap holds across the processes; and what one process created, the others list. Then the same race over
streamable HTTP, against `uvicorn --workers 3` in stateless mode on one SQLite data dir.
"""

from __future__ import annotations

import collections
import json
import re
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from runway_mcp.sandbox import Sandbox, SandboxServer
from tests.pg import PostgresCluster, free_port
from tests.support import (
    CANARY_KEY,
    LOG_CONFIG,
    SCHEMA_CACHE,
    STARTUP_SECONDS,
    VIDEO,
    StdioServer,
    clean_env,
    open_stdio_server,
    raw_result_text,
    result_text,
    server_process,
    stdio_env,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CREATE = "create_video_to_video"
CREATE_PATH = "/video_to_video"
PROCESSES = 3
KEYS = 20
CALLS_PER_KEY = 10
CAP = 5
CAPPED_CALLS = 50
ALL_CALLS_SECONDS = 60.0
WORKERS = 3
HTTP_SESSIONS = 10
TOKEN = "tok-several-workers-Hq3Jt5Lw8Pz2"


def one_create_per_key(sandbox: Sandbox) -> list[str]:
    """The tasks the sandbox made, after checking that exactly one create per key reached it."""
    posts = sandbox.api_requests(method="POST", path_contains=CREATE_PATH)
    created = sandbox.task_ids()
    assert len(posts) == KEYS, f"{len(posts)} create POSTs reached the upstream for {KEYS} keys"
    assert len(created) == KEYS and len(set(created)) == KEYS
    return created


@dataclass
class Hosts:
    """Where the PROCESSES stdio servers keep the journal: `envs[i]` is the environment of process i."""

    envs: list[dict[str, str]]
    cluster: PostgresCluster | None = None
    database: str | None = None

    @property
    def separate(self) -> bool:
        """Each process has its own data dir (and ledger): only the PostgreSQL journal is shared."""
        return self.database is not None

    def with_env(self, **variables: str) -> list[dict[str, str]]:
        return [env | variables for env in self.envs]

    def journal_states(self) -> collections.Counter[str]:
        """The states of the attempts in the PostgreSQL journal."""
        assert self.cluster is not None and self.database is not None
        rows = self.cluster.admin("SELECT state, count(*) FROM create_attempts GROUP BY state", database=self.database)
        return collections.Counter({state: count for state, count in rows})


@pytest.fixture(params=["sqlite", "postgres"])
def hosts(request: pytest.FixtureRequest, sandbox_server: SandboxServer, tmp_path: Path) -> Iterator[Hosts]:
    """sqlite: the processes share one data dir. postgres: each has its own, and they share one fresh database."""
    if request.param == "sqlite":
        yield Hosts([stdio_env(sandbox_server, tmp_path, RUNWAY_MCP_LOG_LEVEL="INFO")] * PROCESSES)
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    database = cluster.create_database()
    url = cluster.database_url(database)
    envs = []
    for i in range(PROCESSES):
        home = tmp_path / f"host-{i}"
        home.mkdir()
        envs.append(stdio_env(sandbox_server, home, RUNWAY_MCP_LOG_LEVEL="INFO", RUNWAY_MCP_DATABASE_URL=url))
    assert len({env["RUNWAY_MCP_DATA_DIR"] for env in envs}) == PROCESSES
    try:
        yield Hosts(envs, cluster, database)
    finally:
        cluster.drop_database(database)


@asynccontextmanager
async def servers(envs: list[dict[str, str]], logs: Path) -> AsyncIterator[list[StdioServer]]:
    """One stdio server per environment."""
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(open_stdio_server(env, logs / f"server-{i}.log"))
            for i, env in enumerate(envs)
        ]


async def call_all(calls: list[tuple[StdioServer, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every create at once, each on its server; the results in the same order."""
    results: list[dict[str, Any] | None] = [None] * len(calls)

    async def one(index: int, server: StdioServer, arguments: dict[str, Any]) -> None:
        results[index] = await server.call_tool(CREATE, arguments)

    with anyio.fail_after(ALL_CALLS_SECONDS):
        async with anyio.create_task_group() as tg:
            for index, (server, arguments) in enumerate(calls):
                tg.start_soon(one, index, server, arguments)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


async def listing(server: StdioServer) -> dict[str, dict[str, Any]]:
    """list_tasks: each listed task by its id."""
    result = await server.call_tool("list_tasks", {"limit": 200})
    assert not result.get("isError"), raw_result_text(result)
    tasks = result["structuredContent"]["tasks"]
    assert all(t["task_id"] for t in tasks), f"tasks listed without an id (in doubt?): {tasks}"
    return {t["task_id"]: t for t in tasks}


async def assert_every_process_lists(
    running: list[StdioServer], sent_by: dict[str, StdioServer], prompts: dict[str, str], hosts: Hosts
) -> None:
    """Each process lists every task, whichever process created it. With separate data dirs, another host's
    task comes from the journal, as it was when created (PENDING); nothing here asked for a live status."""
    for server in running:
        listed = await listing(server)
        assert set(listed) == set(sent_by), f"process {server.pid} lists {sorted(listed)}, not {sorted(sent_by)}"
        for task_id, task in listed.items():
            where = "its own" if sent_by[task_id] is server else "another process's"
            assert task["prompt"] == prompts[task_id], f"process {server.pid} lists {where} task {task_id}: {task}"
            assert task["status"] == "PENDING", f"process {server.pid} lists {where} task {task_id}: {task}"
            assert task["endpoint"] == CREATE_PATH.lstrip("/"), task
    if hosts.separate:
        assert hosts.journal_states() == {"created": len(sent_by)}


async def test_racing_keys_across_processes_send_each_create_once(
    sandbox: Sandbox, hosts: Hosts, tmp_path: Path
) -> None:
    async with servers(hosts.envs, tmp_path) as running:
        calls = []
        for n in range(CALLS_PER_KEY):
            for k in range(KEYS):
                arguments = {"video_uri": VIDEO, "prompt_text": f"Shared key {k}", "idempotency_key": f"shared-{k}"}
                calls.append((running[(n * KEYS + k) % PROCESSES], arguments))
        results = await call_all(calls)

        errors = [raw_result_text(r) for r in results if r.get("isError")]
        assert errors == [], f"{len(errors)} of {len(results)} creates failed, e.g. {errors[:3]}"
        created = one_create_per_key(sandbox)
        by_key: dict[str, set[str]] = collections.defaultdict(set)
        sent_by_key: collections.Counter[str] = collections.Counter()
        sent_by: dict[str, StdioServer] = {}
        prompts: dict[str, str] = {}
        for (server, arguments), result in zip(calls, results, strict=True):
            content = result["structuredContent"]
            by_key[arguments["idempotency_key"]].add(content["task_id"])
            prompts[content["task_id"]] = arguments["prompt_text"]
            if not content["idempotent_replay"]:
                sent_by_key[arguments["idempotency_key"]] += 1
                sent_by[content["task_id"]] = server
        assert all(len(ids) == 1 for ids in by_key.values()), f"a key answered with several tasks: {by_key}"
        assert set().union(*by_key.values()) == set(created), "a call answered with a task the upstream never made"
        assert sent_by_key == dict.fromkeys(by_key, 1), f"calls that claim to have sent their create: {sent_by_key}"
        senders = collections.Counter(server.pid for server in sent_by.values())
        assert len(senders) > 1, f"one process sent every create, so none lists another's: {senders}"
        await assert_every_process_lists(running, sent_by, prompts, hosts)
    assert len(sandbox.api_requests(method="POST", path_contains=CREATE_PATH)) == KEYS


async def test_the_daily_cap_holds_across_processes(sandbox: Sandbox, hosts: Hosts, tmp_path: Path) -> None:
    async with servers(hosts.with_env(RUNWAY_MCP_MAX_TASKS_PER_DAY=str(CAP)), tmp_path) as running:
        calls = [
            (running[i % PROCESSES], {"video_uri": VIDEO, "prompt_text": f"Capped create {i}"})
            for i in range(CAPPED_CALLS)
        ]
        results = await call_all(calls)
        successes = [r["structuredContent"]["task_id"] for r in results if not r.get("isError")]
        refusals = [raw_result_text(r) for r in results if r.get("isError")]
        posts = sandbox.api_requests(method="POST", path_contains=CREATE_PATH)
        assert len(posts) <= CAP, f"{len(posts)} creates were sent under a cap of {CAP}"
        assert len(posts) == len(successes) == CAP, f"{len(posts)} POSTs, {len(successes)} successes: {refusals[:3]}"
        assert sorted(successes) == sorted(sandbox.task_ids())
        assert len(refusals) == CAPPED_CALLS - CAP
        odd = [text for text in refusals if "RUNWAY_MCP_MAX_TASKS_PER_DAY" not in text]
        assert odd == [], f"refusals that do not name the cap: {odd[:3]}"
        assert all("Nothing was sent" in text for text in refusals)
        sent_by = {
            r["structuredContent"]["task_id"]: server
            for (server, _), r in zip(calls, results, strict=True)
            if not r.get("isError")
        }
        prompts = {
            r["structuredContent"]["task_id"]: arguments["prompt_text"]
            for (_, arguments), r in zip(calls, results, strict=True)
            if not r.get("isError")
        }
        await assert_every_process_lists(running, sent_by, prompts, hosts)
        # Once the cap is reached, every process keeps refusing.
        for server in running:
            again = await server.call_tool(CREATE, {"video_uri": VIDEO, "prompt_text": "One more"})
            assert again.get("isError") and "RUNWAY_MCP_MAX_TASKS_PER_DAY" in raw_result_text(again)
    assert len(sandbox.api_requests(method="POST", path_contains=CREATE_PATH)) == CAP


# Stateless streamable HTTP, several uvicorn workers --------------------------------------------------------


def mcp_http_client() -> httpx2.AsyncClient:
    return httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(20, read=60))


async def test_racing_keys_across_uvicorn_workers_send_each_create_once(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    """`uvicorn --factory runway_mcp.remote.app:create_app --workers 3`, stateless, on one data dir: HTTP_SESSIONS
    concurrent MCP sessions race KEYS keys, CALLS_PER_KEY calls each, each key's calls on different sessions."""
    (tmp_path / "log.json").write_text(json.dumps(LOG_CONFIG))
    env = clean_env(
        tmp_path,
        COMETAPI_BASE_URL=sandbox_server.url,
        COMETAPI_KEY=CANARY_KEY,
        RUNWAY_MCP_CACHE_DIR=str(SCHEMA_CACHE),
        RUNWAY_MCP_POLL_INTERVAL="0.2",
        RUNWAY_MCP_LOG_LEVEL="INFO",
        RUNWAY_MCP_AUTH_TOKENS=TOKEN,
        RUNWAY_MCP_HOST="127.0.0.1",
        RUNWAY_MCP_STATELESS="1",
        RUNWAY_MCP_REQUEST_STATE_KEYS="cd" * 32,
    )
    args = [sys.executable, "-m", "uvicorn", "--factory", "runway_mcp.remote.app:create_app"]
    args += ["--workers", str(WORKERS), "--host", "127.0.0.1", "--port", str(free_port())]
    args += ["--log-config", str(tmp_path / "log.json")]
    log = tmp_path / "server.log"

    with server_process(args, env, log, r"Uvicorn running on (http://127\.0\.0\.1:\d+)") as (_, url):
        deadline = time.monotonic() + STARTUP_SECONDS
        while log.read_text().count("Application startup complete") < WORKERS:
            assert time.monotonic() < deadline, log.read_text()
            await anyio.sleep(0.05)

        calls: list[list[dict[str, Any]]] = [[] for _ in range(HTTP_SESSIONS)]
        for n in range(CALLS_PER_KEY):
            for k in range(KEYS):
                arguments = {"video_uri": VIDEO, "prompt_text": f"Worker key {k}", "idempotency_key": f"worker-{k}"}
                calls[(n + k) % HTTP_SESSIONS].append(arguments)
        results: list[list[Any]] = [[None] * len(session_calls) for session_calls in calls]

        async def session(index: int) -> None:
            """One MCP client session, all its calls at once (its HTTP client opens several connections)."""
            async with (
                mcp_http_client() as http,
                Client(streamable_http_client(url + "/mcp", http_client=http)) as client,
                anyio.create_task_group() as tg,
            ):

                async def one(position: int, arguments: dict[str, Any]) -> None:
                    results[index][position] = await client.call_tool(CREATE, arguments)

                for position, arguments in enumerate(calls[index]):
                    tg.start_soon(one, position, arguments)

        with anyio.fail_after(ALL_CALLS_SECONDS):
            async with anyio.create_task_group() as tg:
                for index in range(HTTP_SESSIONS):
                    tg.start_soon(session, index)

        flat = [pair for c, r in zip(calls, results, strict=True) for pair in zip(c, r, strict=True)]
        assert len(flat) == KEYS * CALLS_PER_KEY and all(r is not None for _, r in flat)
        errors = [result_text(r) for _, r in flat if r.is_error]
        assert errors == [], f"{len(errors)} of {len(flat)} creates failed, e.g. {errors[:3]}"
        created = one_create_per_key(sandbox)
        by_key: dict[str, set[str]] = collections.defaultdict(set)
        sent_by_key: collections.Counter[str] = collections.Counter()
        for arguments, result in flat:
            by_key[arguments["idempotency_key"]].add(result.structured_content["task_id"])
            if not result.structured_content["idempotent_replay"]:
                sent_by_key[arguments["idempotency_key"]] += 1
        assert all(len(ids) == 1 for ids in by_key.values()), f"a key answered with several tasks: {by_key}"
        assert set().union(*by_key.values()) == set(created), "a call answered with a task the upstream never made"
        assert sent_by_key == dict.fromkeys(by_key, 1), f"calls that claim to have sent their create: {sent_by_key}"
        # The race really spanned the workers: more than one of them answered creates.
        answered = re.findall(
            r"pid=(\d+) runway_mcp\.service\.task_service: (?:created task|idempotent replay of task)", log.read_text()
        )
        assert len(answered) == KEYS * CALLS_PER_KEY, f"{len(answered)} creates answered in the log"
        assert len(set(answered)) > 1, f"every create was answered by worker {answered[0]}"
        with anyio.fail_after(ALL_CALLS_SECONDS):
            async with mcp_http_client() as http, Client(streamable_http_client(url + "/mcp", http_client=http)) as c:
                listed = await c.call_tool("list_tasks", {"limit": 200})
        assert not listed.is_error, result_text(listed)
        assert {t["task_id"] for t in listed.structured_content["tasks"]} == set(created)
    assert len(set(re.findall(r"pid=(\d+) uvicorn\.error: Started server process", log.read_text()))) == WORKERS
    assert len(sandbox.api_requests(method="POST", path_contains=CREATE_PATH)) == KEYS
