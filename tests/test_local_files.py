"""Local files as inputs, end to end: what the upstream receives, and what never leaves the machine."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from mcp import Client

from runway_mcp.config import Settings
from runway_mcp.media.inputs import MediaValue, verify_remote_asset
from runway_mcp.sandbox import Sandbox, SandboxServer
from runway_mcp.sandbox.media import asset_bytes
from runway_mcp.tools.server import build_server
from runway_mcp.upstream.transport import make_download_client
from tests.support import VIDEO, decode_data_uri, error_text, make_settings

pytestmark = pytest.mark.anyio

MP4 = asset_bytes("sample_input.mp4")
PNG = asset_bytes("sample.png")
JPEG = asset_bytes("sample.jpg")


@pytest.fixture
def media_dir(settings: Settings) -> Path:
    (root,) = settings.allowed_roots()
    return root


async def test_a_local_video_and_reference_arrive_as_exact_data_uris(
    client: Client, sandbox: Sandbox, media_dir: Path
) -> None:
    video = media_dir / "clip.mp4"
    video.write_bytes(MP4)
    still = media_dir / "style.png"
    still.write_bytes(PNG)
    result = await client.call_tool(
        "create_video_to_video",
        {"video_uri": str(video), "prompt_text": "Snow", "references": [{"uri": still.as_uri()}]},
    )
    assert not result.is_error, error_text(result)
    (request,) = sandbox.api_requests(method="POST")
    assert decode_data_uri(request.json["videoUri"]) == ("video/mp4", MP4)
    assert decode_data_uri(request.json["references"][0]["uri"]) == ("image/png", PNG)
    assert int(request.headers["content-length"]) == len(request.body)
    assert "chunked" not in request.headers.get("transfer-encoding", "")


async def test_media_type_comes_from_the_bytes_not_the_name(client: Client, sandbox: Sandbox, media_dir: Path) -> None:
    disguised = media_dir / "holiday.png"  # really an MP4
    disguised.write_bytes(MP4)
    result = await client.call_tool("create_video_to_video", {"video_uri": str(disguised), "prompt_text": "Snow"})
    assert not result.is_error, error_text(result)
    assert decode_data_uri(sandbox.api_requests(method="POST")[0].json["videoUri"])[0] == "video/mp4"


async def test_home_relative_paths_work(
    client: Client, sandbox: Sandbox, media_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(media_dir))
    (media_dir / "clip.mp4").write_bytes(MP4)
    result = await client.call_tool("create_video_to_video", {"video_uri": "~/clip.mp4", "prompt_text": "Snow"})
    assert not result.is_error, error_text(result)
    assert decode_data_uri(sandbox.api_requests(method="POST")[0].json["videoUri"])[1] == MP4


def refused_cases(media_dir: Path, outside: Path) -> dict[str, tuple[str, str]]:
    """name -> (path given to the tool, words the refusal must contain)."""
    (media_dir / "still.jpg").write_bytes(JPEG)
    (media_dir / "anim.mp4").write_bytes(b"GIF89a" + bytes(64))
    (outside / "secret.mp4").write_bytes(MP4)
    (media_dir / "escape.mp4").symlink_to(outside / "secret.mp4")
    (media_dir / ".hidden.mp4").write_bytes(MP4)
    (media_dir / ".private").mkdir()
    (media_dir / ".private" / "clip.mp4").write_bytes(MP4)
    os.mkfifo(media_dir / "pipe.mp4")
    (media_dir / "folder.mp4").mkdir()
    with open(media_dir / "huge.mp4", "wb") as sparse:  # 17 MiB, sparse: no real write
        sparse.write(MP4[:64])
        sparse.truncate(17 * 1024 * 1024)
    (media_dir / "empty.mp4").write_bytes(b"")
    return {
        "an image for the video field": (str(media_dir / "still.jpg"), "video"),
        "a GIF": (str(media_dir / "anim.mp4"), "GIF"),
        "outside the allowed directories": (str(outside / "secret.mp4"), "RUNWAY_MCP_ALLOWED_DIRS"),
        "traversal": (str(media_dir / ".." / outside.name / "secret.mp4"), "RUNWAY_MCP_ALLOWED_DIRS"),
        "a symlink out of the root": (str(media_dir / "escape.mp4"), "RUNWAY_MCP_ALLOWED_DIRS"),
        "a hidden file": (str(media_dir / ".hidden.mp4"), "hidden"),
        "a hidden directory": (str(media_dir / ".private" / "clip.mp4"), "hidden"),
        "a FIFO": (str(media_dir / "pipe.mp4"), "regular file"),
        "a directory": (str(media_dir / "folder.mp4"), "is a directory"),
        "/dev/zero": ("/dev/zero", "RUNWAY_MCP_ALLOWED_DIRS"),
        "over the data URI limit": (str(media_dir / "huge.mp4"), "HTTPS URL"),
        "an empty file": (str(media_dir / "empty.mp4"), "empty"),
        "a missing file": (str(media_dir / "nope.mp4"), "does not exist"),
    }


async def test_refused_files_say_why_and_nothing_is_sent(
    client: Client, sandbox: Sandbox, media_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for case, (path, needle) in refused_cases(media_dir, outside).items():
        text = error_text(await client.call_tool("create_video_to_video", {"video_uri": path, "prompt_text": "x"}))
        assert "video_uri" in text, case
        assert needle.lower() in text.lower(), f"{case}: {text}"
    assert sandbox.requests == []


async def test_refusals_outside_the_roots_reveal_nothing_about_the_file(
    client: Client, sandbox: Sandbox, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "real.mp4").write_bytes(MP4)
    texts = [
        error_text(await client.call_tool("create_video_to_video", {"video_uri": str(p), "prompt_text": "x"}))
        for p in (outside / "real.mp4", outside / "missing.mp4")
    ]
    assert texts[0].replace("real.mp4", "X") == texts[1].replace("missing.mp4", "X")


async def test_the_over_limit_message_gives_size_limit_and_advice(
    client: Client, sandbox: Sandbox, media_dir: Path
) -> None:
    with open(media_dir / "big.mp4", "wb") as sparse:
        sparse.write(MP4[:64])
        sparse.truncate(20 * 1024 * 1024)
    text = error_text(
        await client.call_tool("create_video_to_video", {"video_uri": str(media_dir / "big.mp4"), "prompt_text": "x"})
    )
    assert "20.0 MB" in text and "16" in text and "HTTPS URL" in text


async def test_local_files_can_be_turned_off(sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path) -> None:
    settings = make_settings(sandbox_server.url, tmp_path, allow_local_files=False)
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "clip.mp4").write_bytes(MP4)
    async with Client(build_server(settings)) as client:
        text = error_text(
            await client.call_tool(
                "create_video_to_video", {"video_uri": str(tmp_path / "media" / "clip.mp4"), "prompt_text": "x"}
            )
        )
    assert "local file paths are turned off" in text
    assert sandbox.requests == []


async def test_the_ledger_records_a_local_file_by_description_not_bytes(
    client: Client, sandbox: Sandbox, settings: Settings, media_dir: Path
) -> None:
    payload = MP4 + os.urandom(2048)
    (media_dir / "clip.mp4").write_bytes(payload)
    result = await client.call_tool(
        "create_video_to_video", {"video_uri": str(media_dir / "clip.mp4"), "prompt_text": "x"}
    )
    assert not result.is_error, error_text(result)
    path = settings.ledger_path()
    assert path is not None
    raw = b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))
    assert base64.b64encode(payload)[100:164] not in raw
    assert str(media_dir / "clip.mp4").encode() in raw


async def test_verify_urls_reports_what_the_upstream_would_refuse(
    sandbox: Sandbox, sandbox_server: SandboxServer, settings: Settings
) -> None:
    # The sandbox's own media route plays a remote asset host here (real HTTP, real HEAD answers).
    async with make_download_client(settings) as http:
        good = MediaValue("video_uri", "video", f"{sandbox_server.url}/_sandbox/media/x.mp4")
        problems = await verify_remote_asset(http, good)
        assert problems and "HTTP 403" in problems[0]  # an unsigned media URL is refused, like a CDN's

        created = await _finished_output(sandbox_server, settings)
        assert await verify_remote_asset(http, MediaValue("video_uri", "video", created)) == []
        wrong_kind = await verify_remote_asset(http, MediaValue("references[0].uri", "image", created))
        assert wrong_kind and "not a image" in wrong_kind[0]


async def _finished_output(sandbox_server: SandboxServer, settings: Settings) -> str:
    async with Client(build_server(settings)) as client:
        task_id = (
            await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "x"})
        ).structured_content["task_id"]  # type: ignore[index]
        task = (await client.call_tool("wait_for_task", {"task_id": task_id, "timeout_seconds": 20})).structured_content
        assert task is not None
        url: str = task["output"][0]
        return url
