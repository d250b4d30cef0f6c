"""Shared fixtures: a sandbox upstream on real loopback HTTP, MCP clients in both protocol modes, PostgreSQL."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mcp import Client

from runway_mcp.config import Settings
from runway_mcp.sandbox import Sandbox, SandboxServer
from runway_mcp.tools.server import build_server
from tests.pg import PostgresCluster, find_binaries
from tests.support import FAST_SANDBOX, SCHEMA_CACHE, make_settings

# Servers built from settings with no data or cache directory use the user cache directory; keep
# what they write out of the real one (platformdirs follows XDG_CACHE_HOME on Linux).
os.environ["XDG_CACHE_HOME"] = str(SCHEMA_CACHE / "xdg")


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(dataclasses.replace(FAST_SANDBOX))) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[Sandbox]:
    """The running sandbox, emptied, with the fast default configuration restored after each test."""
    sb = sandbox_server.sandbox
    sb.reset()
    sb.config = dataclasses.replace(FAST_SANDBOX)
    yield sb
    sb.reset()
    sb.config = dataclasses.replace(FAST_SANDBOX)


@pytest.fixture
def settings(sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path) -> Settings:
    (tmp_path / "media").mkdir()
    return make_settings(sandbox_server.url, tmp_path)


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    mode: str = request.param
    return mode


@pytest.fixture
async def client(settings: Settings, mode: str) -> AsyncIterator[Client]:
    async with Client(build_server(settings), mode=mode) as connected:  # type: ignore[arg-type]
        yield connected


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL server for the session (tests/pg.py); skipped where none is installed, but not in CI."""
    binaries = find_binaries()
    if binaries is None:
        reason = "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (.ci/run installs them; under CI these tests must run)", pytrace=False)
        pytest.skip(reason)
    cluster = PostgresCluster(binaries)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """`postgresql://postgres@127.0.0.1:PORT/postgres` of the session's server (trust authentication)."""
    return postgres_cluster.url
