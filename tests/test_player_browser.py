"""The player in a real browser: the system's headless Chromium, driven by Playwright, loads it from a host page.

The host page (tests/player_host.html) does what an MCP Apps host does: it renders the `ui://` page in
a sandboxed iframe under the CSP built from the resource's own `_meta.ui.csp`, answers
`ui/initialize` with a theme, and forwards the view's `tools/call` to the real server (an MCP client
in memory, with the Apps capability, against the sandbox over loopback HTTP), refusing tools whose
`_meta.ui.visibility` leaves out "app". The test feeds the view the real results of real tool calls.

Screenshots go to build/test-output/player/ (light and dark) for a person to look at. Without
/usr/bin/chromium the tests skip, except under CI (CI=true), where .ci/run installs it and they must run.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.types import CallToolResult

from runway_mcp.config import Settings
from runway_mcp.sandbox import Sandbox, SandboxServer
from runway_mcp.tools.player import CONFIRM_TOOL, CONFIRMATION_META, PLAYER_URI
from runway_mcp.tools.server import build_server
from tests.support import CREATE_ARGUMENTS, REPO, make_settings

pytestmark = pytest.mark.anyio

CHROMIUM = Path("/usr/bin/chromium")
# What Chromium needs on these machines: no sandbox as root, no GPU, and nothing reaching the network on its own.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOST_PAGE = Path(__file__).with_name("player_host.html").read_text(encoding="utf-8")
SCREENSHOTS = REPO / "build" / "test-output" / "player"
APPS = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})
WAIT_MS = 30_000
# What a host such as Claude Desktop sends (a subset), written with light-dark() as the Apps spec advises.
HOST_STYLES = {
    "--color-background-primary": "light-dark(#ffffff, #262624)",
    "--color-background-secondary": "light-dark(#f5f4ef, #30302e)",
    "--color-text-primary": "light-dark(#141413, #faf9f5)",
    "--color-text-secondary": "light-dark(#5e5d59, #c2c0b6)",
    "--color-border-primary": "light-dark(rgba(31, 30, 29, 0.15), rgba(222, 220, 209, 0.15))",
    "--font-sans": "system-ui, sans-serif",
}
HOST_CAPABILITIES = {"serverTools": {}, "openLinks": {}, "updateModelContext": {"text": {}}}


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed: apt-get install chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (.ci/run installs it; under CI these tests must run)", pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(params=["light", "dark"])
def theme(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


class ManualClock:
    """The sandbox's clock, moved by the test: a task is exactly as far along as the test says."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Host:
    """The test host page in Chromium, with the player in its iframe."""

    page: Any
    theme: str

    @property
    def view(self) -> Any:
        return self.page.frame_locator("iframe")

    async def show_call(self, tool: str, arguments: dict[str, Any], result: CallToolResult) -> None:
        """Tell the view about a tool call and its result, as a host does when the model calls a bound tool."""
        await self.page.evaluate(
            "([m, p]) => sendToView(m, p)", ["ui/notifications/tool-input", {"arguments": arguments}]
        )
        wire = result.model_dump(mode="json", by_alias=True, exclude_none=True)
        await self.page.evaluate("([m, p]) => sendToView(m, p)", ["ui/notifications/tool-result", wire])

    async def messages(self, method: str) -> list[dict[str, Any]]:
        """What the view sent to the host with this method, in order."""
        log: list[dict[str, Any]] = await self.page.evaluate("window.hostLog")
        return [message for message in log if message.get("method") == method]

    async def tool_calls(self, name: str) -> list[dict[str, Any]]:
        return [m["params"]["arguments"] for m in await self.messages("tools/call") if m["params"]["name"] == name]

    async def state(self) -> str:
        value: str = await self.view.locator("#app").get_attribute("data-state")
        return value

    async def wait_for_state(self, *states: str) -> None:
        selector = ", ".join(f"#app[data-state={state}]" for state in states)
        await self.view.locator(selector).wait_for(timeout=WAIT_MS)

    async def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}-{self.theme}.png"
        await anyio.sleep(0.3)  # let the size change reach the iframe and transitions settle
        await self.page.locator(".bubble").screenshot(path=str(path))
        assert path.stat().st_size > 1000
        return path


class HostPageHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = HOST_PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@asynccontextmanager
async def host_page_server() -> AsyncIterator[str]:
    """The host page over real HTTP on 127.0.0.1, like the sandbox's outputs.

    Chromium's local-network checks keep a page from a public address (or a Playwright route,
    which has none) from loading media off 127.0.0.1; real hosts and real outputs are both public.
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), HostPageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/player-host"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@asynccontextmanager
async def browser_host(client: Client, chromium: Path, theme: str, tmp_path: Path) -> AsyncIterator[Host]:
    """Chromium showing the test host page, with the player loaded from the server's `ui://` resource."""
    from playwright.async_api import async_playwright  # only this module needs it

    resource = (await client.read_resource(PLAYER_URI)).contents[0]
    assert resource.mime_type == APP_MIME_TYPE
    html: str = resource.text  # type: ignore[union-attr]
    csp = (resource.meta or {})["ui"]["csp"]
    visible = {
        t.name: (t.meta or {}).get("ui", {}).get("visibility", ["model", "app"])
        for t in (await client.list_tools()).tools
    }

    async def mcp_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if "app" not in visible.get(name, []):
            return {"error": f"the host does not let apps call {name}"}
        result = await client.call_tool(name, arguments)
        return {"result": result.model_dump(mode="json", by_alias=True, exclude_none=True)}

    context_for_view = {"theme": theme, "displayMode": "inline", "platform": "desktop"}
    if theme == "dark":  # light runs on the player's own fallbacks, dark on the host's variables
        context_for_view["styles"] = {"variables": HOST_STYLES}
    async with async_playwright() as playwright, host_page_server() as host_url:
        browser = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 700, "height": 1000},
            color_scheme=theme,
        )
        try:
            page = browser.pages[0] if browser.pages else await browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.expose_function("mcpCall", mcp_call)
            await page.goto(host_url)
            await page.evaluate(
                "([html, csp, context, capabilities]) => startView(html, csp, context, capabilities)",
                [html, csp, context_for_view, HOST_CAPABILITIES],
            )
            await page.wait_for_function("window.viewReady", timeout=WAIT_MS)
            yield Host(page, theme)
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            await browser.close()


async def test_player_follows_a_running_task_then_plays_saves_and_opens_its_video(
    chromium: Path, sandbox: Sandbox, settings: Settings, tmp_path: Path, theme: str
) -> None:
    clock = ManualClock()
    sandbox.config.clock = clock
    sandbox.config.not_visible_seconds, sandbox.config.pending_seconds, sandbox.config.running_seconds = 0, 1, 10
    arguments = CREATE_ARGUMENTS["create_video_to_video"]
    async with (
        Client(build_server(settings), extensions=[APPS]) as client,  # type: ignore[arg-type]
        browser_host(client, chromium, theme, tmp_path) as host,
    ):
        created = await client.call_tool("create_video_to_video", arguments)
        assert created.structured_content is not None, created
        task_id = created.structured_content["task_id"]
        clock.advance(1 + 0.42 * 10)  # 42 % into RUNNING
        await host.show_call("create_video_to_video", arguments, created)

        await host.wait_for_state("running")
        assert await host.view.locator("#percent").text_content() == "42%"
        assert await host.view.locator("#fill").evaluate("e => e.style.width") == "42%"
        assert await host.view.locator("#badge").text_content() == "Generating"
        assert {"task_id": task_id} in await host.tool_calls("get_task")
        await host.screenshot("running")

        clock.advance(10)
        await host.wait_for_state("succeeded")
        video = host.view.locator("video")
        await video.wait_for(timeout=WAIT_MS)
        task = (await client.call_tool("get_task", {"task_id": task_id})).structured_content
        assert task is not None and task["status"] == "SUCCEEDED"
        source = await video.get_attribute("src")
        assert source is not None and source.split("?")[0] == task["output"][0].split("?")[0]
        assert source.split("?")[0].endswith(f"/{task_id}.mp4")
        # Chromium decoded the sandbox's H.264 clip: the user sees a frame, not a broken box.
        await video.evaluate(
            "v => new Promise(done => v.readyState >= 2 ? done() : v.addEventListener('loadeddata', done))"
        )
        assert await video.evaluate("v => v.videoWidth") > 0
        await host.screenshot("succeeded")

        await host.view.locator("#save-button").click()
        await host.view.locator("#saved li").first.wait_for(timeout=WAIT_MS)
        assert await host.tool_calls("download_task_output") == [{"task_id": task_id}]
        saved = sorted((tmp_path / "out").iterdir())
        assert [p.name for p in saved] == [f"{task_id}-0.mp4"]
        assert str(saved[0]) in await host.view.locator("#saved").text_content()
        await host.screenshot("saved")

        await host.view.locator("#open-button").click()
        await wait_for_messages(host, "ui/open-link")
        opened = (await host.messages("ui/open-link"))[0]["params"]["url"]
        assert opened.split("?")[0] == task["output"][0].split("?")[0]
    assert len(sandbox.api_requests(method="POST")) == 1


async def test_confirm_button_creates_through_the_app_only_tool_and_nothing_before(
    chromium: Path, sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, theme: str
) -> None:
    (tmp_path / "media").mkdir()
    settings = make_settings(sandbox_server.url, tmp_path, confirm_spend=True)
    arguments = CREATE_ARGUMENTS["create_text_to_image"]
    async with (
        Client(build_server(settings), extensions=[APPS]) as client,  # type: ignore[arg-type]  # no elicitation
        browser_host(client, chromium, theme, tmp_path) as host,
    ):
        asked = await client.call_tool("create_text_to_image", arguments)
        assert not asked.is_error and asked.structured_content is not None, asked
        assert asked.structured_content["task_id"] is None
        token = (asked.meta or {})[CONFIRMATION_META]["token"]
        await host.show_call("create_text_to_image", arguments, asked)

        await host.wait_for_state("confirm")
        credits = asked.structured_content["estimated_cost"]["credits"]
        assert await host.view.locator("#credits").text_content() == f"{credits:g} credits"
        await host.screenshot("confirm")
        await anyio.sleep(0.5)
        assert sandbox.api_requests(method="POST") == [], "something was sent before the click"

        await host.view.locator("#confirm-button").click()
        await host.wait_for_state("waiting", "running", "succeeded")
        assert await host.tool_calls(CONFIRM_TOOL) == [{"confirmation_token": token}]
        posts = sandbox.api_requests(method="POST")
        assert len(posts) == 1 and posts[0].created_task_id is not None
        assert posts[0].created_task_id in await host.view.locator("#foot").text_content()
        told = await wait_for_messages(host, "ui/update-model-context")
        assert posts[0].created_task_id in json.dumps(told[0]["params"])
        await host.screenshot("confirmed")

        # Followed to the end, an image task shows an image.
        await host.wait_for_state("succeeded")
        image = host.view.locator("img")
        await image.wait_for(timeout=WAIT_MS)
        source = await image.get_attribute("src")
        assert source is not None and source.split("?")[0].endswith(f"/{posts[0].created_task_id}.png")
        await image.evaluate("i => i.complete && i.naturalWidth > 0 ? null : new Promise(done => i.onload = done)")
        assert await host.view.locator("video").count() == 0
        await host.screenshot("image")

        # The token was good once: the same click again (or anyone holding it) creates nothing more.
        again = await client.call_tool(CONFIRM_TOOL, {"confirmation_token": token})
        assert again.is_error
    assert len(sandbox.api_requests(method="POST")) == 1


async def test_declining_in_the_player_sends_nothing(
    chromium: Path, sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    (tmp_path / "media").mkdir()
    settings = make_settings(sandbox_server.url, tmp_path, confirm_spend=True)
    arguments = CREATE_ARGUMENTS["create_text_to_image"]
    async with (
        Client(build_server(settings), extensions=[APPS]) as client,  # type: ignore[arg-type]
        browser_host(client, chromium, "light", tmp_path) as host,
    ):
        await host.show_call(
            "create_text_to_image", arguments, await client.call_tool("create_text_to_image", arguments)
        )
        await host.wait_for_state("confirm")
        await host.view.locator("#decline-button").click()
        await host.wait_for_state("failed")
        assert "Nothing was sent" in await host.view.locator("#message").text_content()
        told = await wait_for_messages(host, "ui/update-model-context")
        assert "declined" in json.dumps(told[0]["params"])
        assert await host.tool_calls(CONFIRM_TOOL) == []
    assert sandbox.api_requests(method="POST") == []


async def wait_for_messages(host: Host, method: str) -> list[dict[str, Any]]:
    with anyio.fail_after(WAIT_MS / 1000):
        while not (found := await host.messages(method)):
            await anyio.sleep(0.05)
    return found
