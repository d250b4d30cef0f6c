"""The README's commands, run as written: client setup from a clone, remote use, the standalone sandbox.

Each test reads its commands out of README.md, so a command that changes there is the one that runs.
Only what cannot be the same here is replaced: the clone's path and the key in client snippets, port
8000 (taken by whatever else runs on this machine) by a free port, placeholders such as `<token>`, and
`.venv/bin/` by the directory of the interpreter running the tests. The uvx snippets run before the
package is on PyPI: this checkout's wheel, found through UV_FIND_LINKS, stands in for it. Step 1 of the
quick start (install and demo) is run as written by .ci/run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

import runway_mcp
from runway_mcp.sandbox import Sandbox, SandboxServer, asset_bytes
from tests.support import (
    CANARY_KEY,
    REPO,
    RUNWAY_MCP_COMMAND,
    STARTUP_SECONDS,
    VIDEO,
    create_wait_download,
    result_text,
    server_process,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

README = REPO / "README.md"
CLONE_COMMAND = "/path/to/runway-mcp/.venv/bin/runway-mcp"
BIN = Path(sys.executable).parent
TOKEN = "tok-readme-Vb8qK2xLm4Zp7Rt9"
STATE_KEY = "ab" * 32
STARTED = r"(?:listening on|Uvicorn running on) (http://\S+?:\d+)"


def section(title: str) -> str:
    """The README's `## <title>...` section, up to the next `## ` heading."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}.*?$(?P<body>.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"README.md has no '## {title}' section"
    return match.group("body")


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced code block, also those indented in a list item."""
    fence = re.compile(r"^[ \t]*```(?P<lang>\w*)\n(?P<body>.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
    return [(m["lang"], textwrap.dedent(m["body"])) for m in fence.finditer(text)]


def subsections(text: str) -> dict[str, str]:
    parts = re.split(r"^### (.+)$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def base_env(tmp_path: Path) -> dict[str, str]:
    """This machine's environment without our variables, the tests' interpreter first on the PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWAY", "COMETAPI"))}
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    env["RUNWAY_MCP_DATA_DIR"] = str(tmp_path / "data")
    env["RUNWAY_MCP_OUTPUT_DIR"] = str(tmp_path / "out")
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def create_and_read(client: Client, prompt: str = "Snow sandbox:seconds=1") -> str:
    """tools/list, a create, and get_task on the new task; returns its id."""
    names = {tool.name for tool in (await client.list_tools()).tools}
    assert {"create_video_to_video", "get_task"} <= names
    created = await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": prompt})
    assert not created.is_error and created.structured_content is not None, result_text(created)
    task_id: str = created.structured_content["task_id"]
    read = await client.call_tool("get_task", {"task_id": task_id})
    assert not read.is_error and read.structured_content is not None, result_text(read)
    return task_id


# Client setup: each from-a-clone snippet starts the server -----------------------------------------------


def client_snippets(uvx: bool) -> Iterator[tuple[str, str, str]]:
    """(client, language, snippet) for every from-a-clone snippet, or every uvx one; they come in pairs."""
    for client, text in subsections(section("Client setup")).items():
        blocks = code_blocks(text)
        clone = [(lang, body) for lang, body in blocks if CLONE_COMMAND in body]
        with_uvx = [(lang, body) for lang, body in blocks if "uvx cometapi-runway-mcp" in body or '"uvx"' in body]
        assert len(clone) == len(with_uvx), f"{client}: each uvx snippet needs a from-a-clone one beside it"
        for lang, body in with_uvx if uvx else clone:
            yield client, lang, body


def launch(lang: str, snippet: str) -> tuple[str, list[str], dict[str, str]]:
    """The command, arguments and environment a client takes from the snippet (after the user's edits)."""
    snippet = snippet.replace(CLONE_COMMAND, str(RUNWAY_MCP_COMMAND)).replace("your-cometapi-key", CANARY_KEY)
    if lang == "json":
        config = json.loads(snippet)
        server = (config.get("mcpServers") or config["servers"])["runway"]
        # VS Code puts the key it asked for in place of ${input:...}.
        env = {k: re.sub(r"\$\{input:[^}]+\}", CANARY_KEY, v) for k, v in server.get("env", {}).items()}
        return server["command"], server.get("args", []), env
    words = shlex.split(snippet)
    assert words[:3] == ["claude", "mcp", "add"], snippet
    env = dict(words[i + 1].split("=", 1) for i, word in enumerate(words) if word == "--env")
    command, *args = words[words.index("--") + 1 :]
    return command, args, env


CLONE_SNIPPETS = list(client_snippets(uvx=False))
UVX_SNIPPETS = list(client_snippets(uvx=True))


def test_every_client_has_a_from_a_clone_snippet() -> None:
    clients = {client for client, _, _ in CLONE_SNIPPETS}
    assert {"Claude Desktop", "Claude Code", "Cursor", "VS Code"} <= clients


@pytest.mark.parametrize(("client", "lang", "snippet"), CLONE_SNIPPETS, ids=[c for c, _, _ in CLONE_SNIPPETS])
async def test_a_from_a_clone_snippet_starts_the_server(
    client: str, lang: str, snippet: str, sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    command, args, env = launch(lang, snippet)
    assert command == str(RUNWAY_MCP_COMMAND) and env["COMETAPI_KEY"] == CANARY_KEY, client
    parameters = StdioServerParameters(
        command=command, args=args, env=base_env(tmp_path) | env | {"COMETAPI_BASE_URL": sandbox_server.url}
    )
    with anyio.fail_after(60):
        async with Client(parameters) as connected:
            await create_and_read(connected)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding this checkout's wheel: with UV_FIND_LINKS, uvx finds it as it would on PyPI."""
    wheels = tmp_path_factory.mktemp("wheels")
    uv = BIN / "uv"
    assert uv.exists(), "uv is not installed: pip install -e '.[test]' installs it"
    subprocess.run(
        [str(uv), "build", "--quiet", "--wheel", "--out-dir", str(wheels), str(REPO)], check=True, timeout=300
    )
    return wheels


@pytest.mark.parametrize(("client", "lang", "snippet"), UVX_SNIPPETS, ids=[c for c, _, _ in UVX_SNIPPETS])
async def test_a_uvx_snippet_starts_the_server_once_the_package_is_published(
    client: str,
    lang: str,
    snippet: str,
    published: Path,
    sandbox_server: SandboxServer,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    """As written: only where uvx finds the package differs (this checkout's wheel; its dependencies from PyPI)."""
    command, args, env = launch(lang, snippet)
    assert (command, args) == ("uvx", ["cometapi-runway-mcp"]), client
    where = {"UV_FIND_LINKS": str(published), "UV_TOOL_DIR": str(tmp_path / "uv-tools"), "UV_PYTHON_DOWNLOADS": "never"}
    parameters = StdioServerParameters(
        command=command, args=args, env=base_env(tmp_path) | env | where | {"COMETAPI_BASE_URL": sandbox_server.url}
    )
    with anyio.fail_after(240):  # the first start installs the dependencies
        async with Client(parameters) as connected:
            assert connected.server_info is not None and connected.server_info.version == runway_mcp.__version__
            await create_and_read(connected)


# Remote use --------------------------------------------------------------------------------------------


def remote_commands() -> list[str]:
    """Each server the Remote use section starts: a line of its first block, or a whole later block."""
    blocks = [body for lang, body in code_blocks(section("Remote use")) if lang == "sh"]
    first, *scripts = blocks
    lines = [line.split("  #", 1)[0].strip() for line in first.splitlines() if line.strip()]
    return lines + [script.strip() for script in scripts]


def as_run_here(command: str, port: int, database_url: str | None) -> str:
    command = command.replace("--port 8000", f"--port {port}").replace("<token>", TOKEN).replace("<key>", STATE_KEY)
    if database_url is not None:
        command = re.sub(r"postgresql://\S+", database_url, command)
    assert "<" not in command, f"a placeholder this test does not fill: {command}"
    return command


@asynccontextmanager
async def remote_client(url: str, command: str) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"} if TOKEN in command else {}
    if "--transport sse" in command:
        async with Client(sse_client(url + "/sse", headers=headers or None)) as client:
            yield client
        return
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(20, read=60)) as http,
        Client(streamable_http_client(url + "/mcp", http_client=http)) as client,
    ):
        yield client


async def wait_healthy(url: str) -> None:
    async with httpx2.AsyncClient() as http:
        with anyio.fail_after(STARTUP_SECONDS):
            while True:
                try:
                    if (await http.get(url + "/healthz")).status_code == 200:
                        return
                except httpx2.TransportError:
                    pass
                await anyio.sleep(0.1)


def test_the_remote_use_section_has_the_commands_this_test_runs() -> None:
    commands = remote_commands()
    assert commands[:3] == [
        "runway-mcp --transport streamable-http --host 127.0.0.1 --port 8000",
        "runway-mcp --transport sse --port 8000",
        "uvicorn --factory runway_mcp.remote.app:create_app --host 127.0.0.1 --port 8000",
    ]
    assert len(commands) >= 5


REMOTE_COMMANDS = remote_commands()


@pytest.mark.parametrize("written", REMOTE_COMMANDS, ids=[f"{i}-{c.split()[0]}" for i, c in enumerate(REMOTE_COMMANDS)])
async def test_a_remote_use_command_serves_as_written(
    written: str, sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    database = request.getfixturevalue("postgres_url") if "postgresql://" in written else None
    command = as_run_here(written, free_port(), database)
    env = base_env(tmp_path) | {"COMETAPI_KEY": CANARY_KEY, "COMETAPI_BASE_URL": sandbox_server.url}
    with server_process(["bash", "-c", command], env, tmp_path / "server.log", STARTED) as (_, url):
        url = url.replace("0.0.0.0", "127.0.0.1")
        await wait_healthy(url)
        with anyio.fail_after(60):
            async with remote_client(url, command) as client:
                await create_and_read(client)
    assert "Traceback" not in (tmp_path / "server.log").read_text(errors="replace")


def non_loopback_address() -> str | None:
    """An address of this machine that is not loopback, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


async def test_the_factory_without_tokens_serves_only_loopback_connections(tmp_path: Path) -> None:
    written = remote_commands()[2]
    command = as_run_here(written, free_port(), None).replace("--host 127.0.0.1", "--host 0.0.0.0")
    outside = non_loopback_address()
    if outside is None:
        pytest.skip("this machine has no non-loopback address to connect from")
    with server_process(["bash", "-c", command], base_env(tmp_path), tmp_path / "server.log", STARTED) as (_, url):
        port = url.rsplit(":", 1)[1]
        await wait_healthy(f"http://127.0.0.1:{port}")
        async with httpx2.AsyncClient() as http:
            refused = await http.get(f"http://{outside}:{port}/healthz")
    assert refused.status_code == 403
    assert "RUNWAY_MCP_AUTH_TOKENS" in refused.json()["error"]
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert "without authentication only loopback addresses are served" in log


async def test_the_factory_refuses_a_public_address_without_tokens_in_one_line(tmp_path: Path) -> None:
    command = as_run_here(remote_commands()[2], free_port(), None)
    env = base_env(tmp_path) | {"RUNWAY_MCP_HOST": "0.0.0.0"}
    with anyio.fail_after(60):
        result = await anyio.run_process(["bash", "-c", command], env=env, check=False)
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert stderr.strip().splitlines() == [stderr.strip()], f"not one line: {stderr}"
    assert stderr.startswith("runway-mcp: Refusing to serve on 0.0.0.0 without authentication")


# The standalone sandbox: downloads work ------------------------------------------------------------------


def test_the_sandbox_section_shows_the_commands_this_test_runs() -> None:
    text = subsections(section("Development"))["The sandbox"]
    assert "`runway-mcp sandbox --port 8765`" in text
    (block,) = [body for lang, body in code_blocks(text) if lang == "sh"]
    assert block.strip().endswith(".venv/bin/runway-mcp")


async def test_a_standalone_sandbox_serves_a_full_edit_including_the_download(tmp_path: Path) -> None:
    text = subsections(section("Development"))["The sandbox"]
    (block,) = [body for lang, body in code_blocks(text) if lang == "sh"]
    port = free_port()
    sandbox_command = ["bash", "-c", f"runway-mcp sandbox --port {port}"]
    server_command = block.strip().replace("8765", str(port)).replace(".venv/bin/", f"{BIN}/")
    env = base_env(tmp_path)
    started = rf"Uvicorn running on (http://127\.0\.0\.1:{port})"
    with server_process(sandbox_command, env, tmp_path / "sandbox.log", started):
        parameters = StdioServerParameters(command="bash", args=["-c", server_command], env=env)
        with anyio.fail_after(90):
            async with Client(parameters) as client:
                saved = await create_wait_download(
                    client, {"video_uri": VIDEO, "prompt_text": "Snow sandbox:seconds=1"}
                )
    assert Path(saved["path"]).parent == tmp_path / "out"
    assert Path(saved["path"]).read_bytes() == asset_bytes("output.mp4")
