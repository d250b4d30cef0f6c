"""Shared fixtures: a sandbox upstream on real loopback HTTP and MCP clients in both protocol modes."""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from pydantic import SecretStr

from runway_mcp.config import Settings
from runway_mcp.sandbox import Sandbox, SandboxConfig, SandboxServer
from runway_mcp.tools.server import build_server

# A distinctive key: the secret-hygiene tests search every output for it.
CANARY_KEY = "sk-canary-Q7vX2m9Lr4Tz8Wn3"

# One tool-schema cache for the whole run: after the first server, every test's tools come from it,
# as a user's do on every start but the first (test_schema_cache.py covers the cold path).
SCHEMA_CACHE = Path(tempfile.mkdtemp(prefix="runway-mcp-schema-cache-"))
atexit.register(shutil.rmtree, SCHEMA_CACHE, ignore_errors=True)
# Servers built from settings with no data or cache directory use the user cache directory; keep
# what they write out of the real one (platformdirs follows XDG_CACHE_HOME on Linux).
os.environ["XDG_CACHE_HOME"] = str(SCHEMA_CACHE / "xdg")

FAST_SANDBOX = SandboxConfig(
    api_key=CANARY_KEY,
    not_visible_seconds=0.3,
    pending_seconds=0.3,
    running_seconds=1.2,
)


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


def make_settings(base_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "api_key": SecretStr(CANARY_KEY),
        "base_url": base_url,
        "poll_interval_seconds": 0.2,
        "retry_budget_seconds": 5.0,
        "retry_backoff_seconds": 0.05,
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "data_dir": tmp_path / "data",
        "cache_dir": SCHEMA_CACHE,
        "output_dir": tmp_path / "out",
        "allowed_dirs": (tmp_path / "media",),
        "insecure_download_hosts": ("127.0.0.1",),
        "log_level": "DEBUG",
    }
    values.update(overrides)
    return Settings(**values)


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
