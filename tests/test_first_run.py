"""A new user's first run: every mistake explains itself.

- A wrong setting ends every command with one line per variable: its name, its value, what would be valid.
- A wrong base URL is blamed on COMETAPI_BASE_URL (or RUNWAYML_BASE_URL), says nothing was created, and a
  refused connection is reported at once instead of after retries.
- Run by hand in a terminal, the server says it is waiting for an MCP client.
"""

from __future__ import annotations

import ast
import logging
import os
import pty
import re
import select
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, get_args, get_origin

import pytest
from annotated_types import Ge, Gt, Le
from mcp import Client

from runway_mcp.config import BASE_URL_VARIABLES, VARIABLES, Settings, SettingsError
from runway_mcp.sandbox import Fault, Sandbox, SandboxServer
from runway_mcp.tools.server import build_server
from tests.support import (
    REPO,
    RUNWAY_MCP_COMMAND,
    SEED_ARGUMENTS,
    clean_env,
    closed_port_url,
    error_text,
    make_settings,
)

pytestmark = pytest.mark.anyio

CONFIG_MODULE = REPO / "src" / "runway_mcp" / "config.py"
ENV_NAME = re.compile(r"^(COMETAPI|RUNWAY|RUNWAYML)_[A-Z_]+$")
LINE = re.compile(r"^Invalid configuration: (?P<variable>[A-Z_]+) (?P<has>is .+?), but it must (?P<must>.+)\.$")
PYDANTIC_TEXT = ("pydantic", "validation error", "input_value", "type=", "Traceback")

# Settings whose values are not checked (any text is a valid version, path, host name or token), and those
# checked by hand-written rules rather than by their type: with the bad value a user could plausibly give.
ANY_VALUE = {
    "COMETAPI_KEY",
    "RUNWAYML_API_SECRET",
    "RUNWAY_VERSION",
    "RUNWAY_MCP_DATA_DIR",
    "RUNWAY_MCP_CACHE_DIR",
    "RUNWAY_MCP_OUTPUT_DIR",
    "RUNWAY_MCP_HOST",
    "RUNWAY_MCP_AUTH_TOKENS",
    "RUNWAY_MCP_ALLOWED_HOSTS",
    "RUNWAY_MCP_ALLOWED_ORIGINS",
    "RUNWAY_MCP_REQUEST_STATE_KEYS",  # checked when HTTP starts (tests/test_http.py)
}
RULES: dict[str, tuple[str, dict[str, str]]] = {
    "COMETAPI_BASE_URL": ("api.cometapi.com", {}),
    "RUNWAYML_BASE_URL": ("api.dev.runwayml.com", {"RUNWAY_MCP_PROVIDER": "runway"}),
    "RUNWAY_MCP_PUBLIC_URL": ("mcp.example.com", {}),
    "RUNWAY_MCP_PROVIDER": ("comet", {}),
    "RUNWAY_MCP_ALLOWED_DIRS": ("videos/in", {}),
    "RUNWAY_MCP_DATABASE_URL": ("mysql://runway:Pa55word@db/runway", {}),
}
SECRET_VARIABLES = {"RUNWAY_MCP_DATABASE_URL"}
# The three from the issue, together.
ISSUE_EXAMPLES = {
    "RUNWAY_MCP_READ_TIMEOUT": "abc",
    "COMETAPI_BASE_URL": "api.cometapi.com",
    "RUNWAY_MCP_LOG_LEVEL": "LOUD",
}


def variables_read_by_config() -> set[str]:
    tree = ast.parse(CONFIG_MODULE.read_text(encoding="utf-8"))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and ENV_NAME.fullmatch(node.value)
    }


def bad_values_by_type(field: str) -> list[str]:
    """Values the field's type and bounds refuse, worked out from the field as `Settings` declares it."""
    info = Settings.model_fields[field]
    kind = info.annotation
    if type(None) in get_args(kind) and get_origin(kind) is not Literal:
        kind = next(arg for arg in get_args(kind) if arg is not type(None))
    if get_origin(kind) is Literal:
        return ["LOUD"]
    if kind is bool:
        return ["maybe"]
    if kind in (int, float):
        values = ["abc", "nan"] if kind is float else ["abc", "1.5"]
        for bound in info.metadata:
            if isinstance(bound, Gt | Ge):
                values.append("-1")
            if isinstance(bound, Le):
                values.append(str(bound.le + 1))
        return values
    return []


def bad_settings() -> Iterator[tuple[str, str, dict[str, str]]]:
    """(variable, bad value, other variables it needs) for every variable config.py reads but ANY_VALUE."""
    fields = dict(VARIABLES)
    for variable in sorted(variables_read_by_config() - ANY_VALUE):
        if variable in RULES:
            value, context = RULES[variable]
            yield variable, value, context
            continue
        assert variable in fields, f"{variable}: add it to RULES or ANY_VALUE in this test"
        values = bad_values_by_type(fields[variable])
        assert values, f"{variable}: no bad value follows from its type; add it to RULES or ANY_VALUE"
        for value in values:
            yield variable, value, {}


def test_every_setting_that_can_be_wrong_is_tried() -> None:
    tried = {variable for variable, _, _ in bad_settings()}
    assert tried | ANY_VALUE == variables_read_by_config()
    assert len(tried) >= 20


@pytest.mark.parametrize(("variable", "value", "context"), list(bad_settings()))
def test_a_wrong_setting_is_named_with_its_value_and_what_is_valid(
    variable: str, value: str, context: dict[str, str]
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value, **context})
    message = str(caught.value)
    assert "\n" not in message and not any(text in message for text in PYDANTIC_TEXT), message
    match = LINE.match(message)
    assert match, message
    assert match["variable"] == variable
    if variable in SECRET_VARIABLES:
        assert value not in message and "Pa55word" not in message
    else:
        assert match["has"] == f"is {value!r}"
    # What the message calls valid is valid: its default, and each choice it lists.
    examples = re.findall(r"\(default ([^)]+)\)", match["must"]) + re.findall(r"like (\S+?)$", match["must"])
    choices = re.match(r"be one of (.+?)(?: \(|$)", match["must"])
    examples += choices[1].split(", ") if choices else []
    for example in examples:
        Settings.from_env({variable: example, **context})


@pytest.mark.parametrize("variable", sorted(ANY_VALUE))
def test_settings_that_take_any_text_take_it(variable: str) -> None:
    Settings.from_env({variable: "/srv/some value,another"})


def test_several_wrong_settings_are_each_named_on_their_own_line() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(ISSUE_EXAMPLES)
    assert_one_line_each(str(caught.value), ISSUE_EXAMPLES)


COMMANDS = {
    "stdio": [str(RUNWAY_MCP_COMMAND)],
    "http": [str(RUNWAY_MCP_COMMAND), "--transport", "streamable-http", "--port", "0"],
    "sse": [str(RUNWAY_MCP_COMMAND), "--transport", "sse", "--port", "0"],
    "demo": [str(RUNWAY_MCP_COMMAND), "demo"],
    "uvicorn factory": [sys.executable, "-m", "uvicorn", "--factory", "runway_mcp.remote.app:create_app"],
}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A command run to its end with no input, its output captured."""
    return subprocess.run(
        args, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False
    )


def assert_one_line_each(stderr: str, expected: dict[str, str]) -> None:
    lines = [line.removeprefix("runway-mcp: ") for line in stderr.strip().splitlines()]
    assert not any(text in stderr for text in PYDANTIC_TEXT), stderr
    named = {}
    for line in lines:
        match = LINE.match(line)
        assert match, f"not one clear line: {line!r}\n{stderr}"
        named[match["variable"]] = match["has"]
    assert named == {variable: f"is {value!r}" for variable, value in expected.items()}, stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_refuses_wrong_settings_in_one_line_each(command: str, tmp_path: Path) -> None:
    result = run(COMMANDS[command], clean_env(tmp_path, **ISSUE_EXAMPLES))
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert_one_line_each(result.stderr, ISSUE_EXAMPLES)


@pytest.mark.parametrize("command", ["sandbox", "serve"])
def test_a_port_out_of_range_is_refused_in_one_line(command: str, tmp_path: Path) -> None:
    args = [str(RUNWAY_MCP_COMMAND), command, "--port", "70000"]
    if command == "serve":
        args[2:2] = ["--transport", "streamable-http"]
    result = run(args, clean_env(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith("argument --port: must be a whole number from 0 to 65535, not '70000'")
    ), result.stderr


# A wrong base URL --------------------------------------------------------------------------------------


def retries_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "runway_mcp.upstream.client" and "retry" in r.message]


@pytest.mark.parametrize("provider", ["cometapi", "runway"])
async def test_a_refused_connection_is_blamed_on_the_base_url_at_once(
    tmp_path: Path, provider: Literal["cometapi", "runway"], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="runway_mcp.upstream.client")
    base_url = closed_port_url()
    settings = make_settings(base_url, tmp_path, provider=provider, max_retries=4, retry_backoff_seconds=1.0)
    async with Client(build_server(settings)) as client:
        created = error_text(await client.call_tool("create_video_to_video", SEED_ARGUMENTS))
        read = error_text(await client.call_tool("get_task", {"task_id": "3f0c9a52-8d7b-4a51-a0b2-9a6d1c1f3e11"}))
        listed = await client.call_tool("list_tasks", {})
    variable = BASE_URL_VARIABLES[provider]
    for text in (created, read):
        assert "could not connect (connection refused)" in text
        assert f"check {variable} (now {base_url};" in text
        assert "nothing was created" in text and "may or may not" not in text
    assert retries_logged(caplog) == [], "a refused connection was retried"
    assert listed.structured_content is not None and listed.structured_content["tasks"] == []  # nothing in doubt


@pytest.fixture
def unanswered_port() -> Iterator[str]:
    """A loopback port whose listen queue is full: a new connection is neither refused nor accepted."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for sock in (*fillers, listener):
            sock.close()


async def test_a_connect_timeout_is_still_retried_and_said_not_created(
    unanswered_port: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A create that never connected is safe to repeat: a timeout may pass, a refusal does not."""
    caplog.set_level(logging.INFO, logger="runway_mcp.upstream.client")
    settings = make_settings(unanswered_port, tmp_path, connect_timeout=0.2, max_retries=2)
    async with Client(build_server(settings)) as client:
        text = error_text(await client.call_tool("create_video_to_video", SEED_ARGUMENTS))
    assert "could not connect (ConnectTimeout)" in text and "gave up after 3 attempts" in text
    assert "nothing was created" in text and "If this persists, check COMETAPI_BASE_URL" in text
    assert len(retries_logged(caplog)) == 2


@pytest.mark.parametrize("provider", ["cometapi", "runway"])
async def test_a_wrong_path_is_blamed_on_the_base_url(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path, provider: Literal["cometapi", "runway"]
) -> None:
    base_url = f"{sandbox_server.url}/api/v2"
    settings = make_settings(base_url, tmp_path, provider=provider)
    async with Client(build_server(settings)) as client:
        created = error_text(await client.call_tool("create_video_to_video", SEED_ARGUMENTS))
        read = error_text(await client.call_tool("get_task", {"task_id": "3f0c9a52-8d7b-4a51-a0b2-9a6d1c1f3e11"}))
    variable = BASE_URL_VARIABLES[provider]
    for text in (created, read):
        assert "Invalid URL" in text and f"check {variable} (now {base_url};" in text, text
        assert "Nothing was created" in text
    assert sandbox.task_ids() == []
    assert len(sandbox.api_requests(method="POST")) == 1  # refused for certain: not sent again


async def test_a_web_page_for_a_create_is_blamed_on_the_base_url(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.add_fault(Fault(kind="html", method="POST", status=404))
    async with Client(build_server(make_settings(sandbox_server.url, tmp_path))) as client:
        text = error_text(await client.call_tool("create_video_to_video", SEED_ARGUMENTS))
    assert "a web page" in text and "check COMETAPI_BASE_URL" in text and "Nothing was created" in text
    assert sandbox.task_ids() == []


# The server run by hand ----------------------------------------------------------------------------------


def read_until(fd: int, pattern: bytes, seconds: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + seconds
    while pattern not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal is POSIX")
def test_in_a_terminal_the_server_says_once_that_it_waits_for_a_client(tmp_path: Path) -> None:
    terminal, child_side = pty.openpty()
    process = subprocess.Popen(
        [str(RUNWAY_MCP_COMMAND)], stdin=child_side, stdout=child_side, stderr=subprocess.PIPE, env=clean_env(tmp_path)
    )
    os.close(child_side)
    try:
        assert process.stderr is not None
        hint = read_until(process.stderr.fileno(), b"demo", 30).decode()
        assert "waiting for an MCP client" in hint and "runway-mcp demo" in hint
        os.write(terminal, b"\x04")  # Ctrl-D, as the hint says: end of input
        assert process.wait(timeout=30) == 0
        rest = process.stderr.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(terminal)
    assert (hint + rest).count("waiting for an MCP client") == 1
    assert "Traceback" not in rest


def test_without_a_terminal_the_server_says_nothing_of_the_kind(tmp_path: Path) -> None:
    result = run([str(RUNWAY_MCP_COMMAND)], clean_env(tmp_path, RUNWAY_MCP_LOG_LEVEL="WARNING"))
    assert result.returncode == 0, result.stderr
    assert "waiting for an MCP client" not in result.stderr


# The everyday test subset ------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_everyday_subset_skips_only_the_slow_tests_and_ci_runs_them_all(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (everyday,) = re.findall(r"`(\.venv/bin/python -m pytest [^`]*-m \"not slow\"[^`]*)`", readme)
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if "-m pytest" in line]
    assert ci == [".venv/bin/python -m pytest -q"], "CI runs every test, slow ones included"

    def collected(command: list[str]) -> set[str]:
        result = subprocess.run(
            [*command, "--collect-only", "-p", "no:cacheprovider"],
            cwd=REPO,
            env=clean_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return {line for line in result.stdout.splitlines() if "::" in line}

    words = shlex.split(everyday)
    fast = collected([sys.executable, *words[1:]])
    everything = collected([sys.executable, "-m", "pytest", "-q"])
    slow = everything - fast
    assert fast < everything and len(fast) > len(everything) / 3
    assert not any(test.startswith(("tests/test_soak.py", "tests/test_fault_matrix.py")) for test in fast)
    assert "tests/test_extension.py::test_the_built_bundle_runs_as_its_manifest_says" in slow
    assert any(test.startswith("tests/test_core_tools.py") for test in fast)
