"""Runway's ephemeral uploads: local files over the data-URI limit, with RUNWAY_MCP_PROVIDER=runway."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest
from mcp import Client

from runway_mcp.sandbox import Fault, Sandbox, SandboxServer
from runway_mcp.sandbox.media import asset_bytes
from runway_mcp.tools.server import build_server
from tests.support import CANARY_KEY, error_text, make_settings

pytestmark = pytest.mark.anyio

MP4 = asset_bytes("sample_input.mp4")
MiB = 1024 * 1024


def big_video(directory: Path, size: int) -> tuple[Path, str]:
    """A real MP4 head followed by random bytes: over the 16 MiB data-URI limit, distinct each time."""
    directory.mkdir(exist_ok=True)
    path = directory / "long take.mp4"
    with path.open("wb") as out:
        out.write(MP4)
        out.write(os.urandom(size - len(MP4)))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


async def test_a_large_local_file_is_uploaded_then_referenced_by_its_runway_uri(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    path, digest = big_video(tmp_path / "media", 17 * MiB)
    settings = make_settings(sandbox_server.url, tmp_path, provider="runway")
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("create_video_to_video", {"video_uri": str(path), "prompt_text": "Snow"})
    assert not result.is_error, error_text(result)

    (upload,) = sandbox.uploads.completed()
    assert (upload.size, upload.sha256) == (17 * MiB, digest)
    assert upload.filename == "long_take.mp4"
    assert "authorization" not in upload.form_headers  # the storage host never sees the API key
    assert upload.form_headers["content-length"] == str(int(upload.form_headers["content-length"]))
    (slot_request,) = sandbox.api_requests(method="POST", path_contains="/v1/uploads")
    assert slot_request.json == {"filename": "long_take.mp4", "type": "ephemeral"}
    assert slot_request.headers["authorization"] == f"Bearer {CANARY_KEY}"
    (create,) = sandbox.api_requests(method="POST", path_contains="/v1/video_to_video")
    assert create.json["videoUri"] == upload.uri
    assert len(create.body) < 1000  # the file went by upload, not inline
    assert sandbox.task_ids()


async def test_a_small_local_file_still_goes_inline_with_runway(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "clip.mp4").write_bytes(MP4)
    settings = make_settings(sandbox_server.url, tmp_path, provider="runway")
    async with Client(build_server(settings)) as client:
        result = await client.call_tool(
            "create_video_to_video", {"video_uri": str(tmp_path / "media" / "clip.mp4"), "prompt_text": "Snow"}
        )
    assert not result.is_error, error_text(result)
    assert sandbox.uploads.completed() == []
    (create,) = sandbox.api_requests(method="POST")
    assert create.json["videoUri"] == "data:video/mp4;base64," + base64.b64encode(MP4).decode()


async def test_with_cometapi_a_large_file_is_refused_with_both_ways_out(
    client: Client, sandbox: Sandbox, tmp_path: Path
) -> None:
    path, _ = big_video(tmp_path / "media", 17 * MiB)
    text = error_text(await client.call_tool("create_video_to_video", {"video_uri": str(path), "prompt_text": "x"}))
    assert "HTTPS URL" in text and "RUNWAY_MCP_PROVIDER=runway" in text
    assert sandbox.requests == []


async def test_files_over_the_upload_limit_are_refused_before_anything_is_sent(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    (tmp_path / "media").mkdir()
    huge = tmp_path / "media" / "huge.mp4"
    with huge.open("wb") as out:  # sparse: nothing like 201 MiB is written
        out.write(MP4)
        out.truncate(201 * MiB)
    settings = make_settings(sandbox_server.url, tmp_path, provider="runway")
    async with Client(build_server(settings)) as client:
        text = error_text(await client.call_tool("create_video_to_video", {"video_uri": str(huge), "prompt_text": "x"}))
    assert "limit of Runway's uploads" in text
    assert sandbox.requests == []


async def test_a_failed_upload_creates_nothing(sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path) -> None:
    path, _ = big_video(tmp_path / "media", 17 * MiB)
    sandbox.add_fault(Fault(kind="status", method="POST", path="/v1/uploads", status=503, times=-1))
    settings = make_settings(sandbox_server.url, tmp_path, provider="runway", max_retries=1)
    async with Client(build_server(settings)) as client:
        text = error_text(await client.call_tool("create_video_to_video", {"video_uri": str(path), "prompt_text": "x"}))
    assert "503" in text
    assert sandbox.api_requests(path_contains="video_to_video") == []
    assert sandbox.task_ids() == []
