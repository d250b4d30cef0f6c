"""Media inputs: classification, URL and data URI checks, local files, and the streamed request body.

Test media are real files with just the magic bytes of each format; the sniffing needs no more.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import struct
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from runway_mcp.catalog import (
    ACCEPTED_MEDIA_TYPES,
    DATA_URI_LIMIT_BYTES,
    MAX_URL_LENGTH,
    MB,
    URL_ASSET_LIMIT_BYTES,
    MediaKind,
)
from runway_mcp.config import ALLOWED_DIRS_ENV, default_allowed_roots
from runway_mcp.media.body import StreamingJsonBody, materialize
from runway_mcp.media.local import (
    LocalMedia,
    MediaError,
    check_data_uri,
    check_https_url,
    classify_media_uri,
    open_local_media,
    resolve_media_input,
)

MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00\x00\x00\x08free"
MOV = b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  " + b"\x00\x00\x00\x08wide"
WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0) + b"\x00" * 4
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    allowed = tmp_path / "root"
    allowed.mkdir()
    return allowed


def write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def refusal(raw: str | Path, kind: MediaKind, roots: Sequence[Path], field: str = "videoUri") -> str:
    with pytest.raises(MediaError) as caught:
        open_local_media(str(raw), kind, field, roots)
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ")
    return caught.value.message


def assert_says_nothing_about_the_file(message: str, tmp_path: Path) -> None:
    message = message.replace(str(tmp_path), "<tmp>")
    assert "outside the directories" in message
    assert ALLOWED_DIRS_ENV in message
    for leak in ("exist", "directory;", "regular file", "empty", "MB", "bytes", "format"):
        assert leak not in message


async def collect(body: StreamingJsonBody) -> bytes:
    return b"".join([chunk async for chunk in body])


# Classification


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://cdn.example.com/a.mp4", "https"),
        ("HTTPS://cdn.example.com/a.mp4", "https"),
        ("data:video/mp4;base64,AAAA", "data"),
        ("/home/me/a.mp4", "local"),
        ("~/a.mp4", "local"),
        ("file:///home/me/a.mp4", "local"),
        ("http://example.com/a.mp4", "invalid"),
        ("ftp://example.com/a.mp4", "invalid"),
        ("clips/a.mp4", "invalid"),
        ("a.mp4", "invalid"),
        ("", "invalid"),
    ],
)
def test_classify_media_uri(value: str, expected: str) -> None:
    assert classify_media_uri(value) == expected


# HTTPS URLs


def test_a_https_url_on_a_domain_passes() -> None:
    assert check_https_url("https://cdn.example.com/clips/a.mp4?sig=abc", "videoUri") == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://example.com/a.mp4", "must start with https://"),
        ("https://192.168.1.10/a.mp4", "is an IP address"),
        ("https://[2001:db8::1]/a.mp4", "is an IP address"),
        ("https://127.1/a.mp4", "is an IP address"),
        ("https:///a.mp4", "has no host name"),
        ("https://localhost/a.mp4", "not a public domain name"),
        ("https://[::1/a.mp4", "not a valid URL"),
    ],
)
def test_https_url_problems(url: str, expected: str) -> None:
    problems = check_https_url(url, "videoUri")
    assert len(problems) == 1
    assert expected in problems[0]
    assert problems[0].startswith("videoUri: ")


def test_a_url_over_the_length_limit_is_refused() -> None:
    url = "https://example.com/" + "a" * MAX_URL_LENGTH
    (problem,) = check_https_url(url, "videoUri")
    assert f"{len(url)} characters" in problem
    assert str(MAX_URL_LENGTH) in problem
    assert check_https_url(url[:MAX_URL_LENGTH], "videoUri") == []


# Data URIs


def test_a_valid_data_uri_passes() -> None:
    value = "data:video/mp4;base64," + base64.b64encode(MP4).decode()
    assert check_data_uri(value, "video", "videoUri") == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("data:;base64,AAAA", "no media type"),
        ("data:video/mp4,AAAA", "data:<media type>;base64,"),
        ("data:video/mp4;base64", "data:<media type>;base64,"),
        ("data:video/mp4;base64,", "contains no data"),
        ("data:video/mp4;base64,AA A", "not valid base64"),
        ("data:video/mp4;base64,AAA", "not valid base64"),
        ("data:video/mp4;base64,AA*A", "not valid base64"),
        ("data:image/png;base64,AAAA", "an image in PNG format"),
    ],
)
def test_data_uri_problems(value: str, expected: str) -> None:
    problems = check_data_uri(value, "video", "videoUri")
    assert len(problems) == 1
    assert expected in problems[0]


def test_a_gif_data_uri_is_refused_with_the_accepted_formats() -> None:
    (problem,) = check_data_uri("data:image/gif;base64,R0lGODlh", "image", "references[0].uri")
    assert "GIF" in problem
    assert "not accepted" in problem
    for media_type in ACCEPTED_MEDIA_TYPES["image"]:
        assert media_type in problem


def base64_of_length(size: int) -> str:
    """Base64 text that decodes to `size` zero bytes, built without encoding them."""
    return "A" * (size // 3 * 4) + ("", "AA==", "AAA=")[size % 3]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_base64_of_length_decodes_to_that_many_bytes(size: int) -> None:
    assert base64.b64decode(base64_of_length(size)) == b"\x00" * size


@pytest.mark.parametrize("kind", ["image", "video"])
def test_data_uri_size_is_computed_from_the_base64_length(kind: MediaKind) -> None:
    limit = DATA_URI_LIMIT_BYTES[kind]
    prefix = f"data:{ACCEPTED_MEDIA_TYPES[kind][0]};base64,"
    assert check_data_uri(prefix + base64_of_length(limit), kind, "uri") == []
    (problem,) = check_data_uri(prefix + base64_of_length(limit + 2 * MB), kind, "uri")
    assert f"{(limit + 2 * MB) / MB:.1f} MB" in problem
    assert f"{limit / MB:.1f} MB limit" in problem
    assert "HTTPS URL" in problem
    (problem,) = check_data_uri(prefix + base64_of_length(limit + 1), kind, "uri")
    assert f"{limit + 1:,} bytes" in problem


# Local files: accepted formats


@pytest.mark.parametrize(
    ("content", "name", "kind", "media_type"),
    [
        (MP4, "clip.mp4", "video", "video/mp4"),
        (MOV, "clip.mov", "video", "video/quicktime"),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x10mdat", "old-quicktime.mov", "video", "video/quicktime"),
        (WEBM, "clip.webm", "video", "video/webm"),
        (JPEG, "still.jpg", "image", "image/jpeg"),
        (PNG, "still.png", "image", "image/png"),
        (WEBP, "still.webp", "image", "image/webp"),
        (MP4, "spoofed.png", "video", "video/mp4"),
        (MP4 + b"\x00" * 1000, "noextension", "video", "video/mp4"),
    ],
)
def test_accepted_local_files(root: Path, content: bytes, name: str, kind: MediaKind, media_type: str) -> None:
    path = write(root / "sub" / name, content)
    with open_local_media(str(path), kind, "field", [root]) as media:
        assert media.media_type == media_type
        assert media.size == len(content)
        assert media.kind == kind
        assert media.path == path.resolve()
        assert media.sha256 == hashlib.sha256(content).hexdigest()
        data_uri = b"".join(media.iter_data_uri_chunks())
        assert data_uri == f"data:{media_type};base64,".encode() + base64.b64encode(content)
        assert len(data_uri) == media.encoded_length
    assert media.closed


@pytest.mark.parametrize(
    ("content", "name", "kind", "found"),
    [
        (PNG, "spoofed.mp4", "video", "an image in PNG format"),
        (JPEG, "still.jpg", "video", "an image in JPEG format"),
        (MP4, "clip.mp4", "image", "a video in MP4 format"),
        (WEBM, "clip.webm", "image", "a video in WebM format"),
    ],
)
def test_the_wrong_kind_for_the_field_is_refused(
    root: Path, content: bytes, name: str, kind: MediaKind, found: str
) -> None:
    message = refusal(write(root / name, content), kind, [root])
    assert found in message
    assert "content, not its name" in message
    for media_type in ACCEPTED_MEDIA_TYPES[kind]:
        assert media_type in message


def test_a_gif_is_refused_with_the_accepted_formats(root: Path) -> None:
    message = refusal(write(root / "anim.gif", GIF), "image", [root], field="references[0].uri")
    assert "GIF format (image/gif)" in message
    assert "not accepted" in message
    for media_type in ACCEPTED_MEDIA_TYPES["image"]:
        assert media_type in message


@pytest.mark.parametrize("content", [b"just some text, not media", HEIC])
def test_unrecognised_or_unaccepted_content_is_refused(root: Path, content: bytes) -> None:
    message = refusal(write(root / "clip.mp4", content), "video", [root])
    assert "video/mp4" in message


def test_an_empty_file_is_refused(root: Path) -> None:
    assert "is empty" in refusal(write(root / "empty.mp4", b""), "video", [root])


@pytest.mark.parametrize("kind", ["image", "video"])
def test_an_oversized_file_states_size_limit_and_advice(root: Path, kind: MediaKind) -> None:
    path = write(root / "big.bin", MP4 if kind == "video" else PNG)
    with path.open("r+b") as sparse:
        sparse.truncate(DATA_URI_LIMIT_BYTES[kind] + 3 * MB)
    message = refusal(path, kind, [root])
    assert f"{(DATA_URI_LIMIT_BYTES[kind] + 3 * MB) / MB:.1f} MB" in message
    assert f"{DATA_URI_LIMIT_BYTES[kind] / MB:.1f} MB limit" in message
    assert "HTTPS URL" in message
    assert f"{URL_ASSET_LIMIT_BYTES[kind] / MB:.1f} MB" in message


def test_a_file_one_byte_over_the_limit_shows_exact_bytes(root: Path) -> None:
    path = write(root / "big.png", PNG)
    os.truncate(path, DATA_URI_LIMIT_BYTES["image"] + 1)
    assert f"{DATA_URI_LIMIT_BYTES['image'] + 1:,} bytes" in refusal(path, "image", [root])


def test_a_file_exactly_at_the_limit_is_accepted(root: Path) -> None:
    path = write(root / "full.png", PNG)
    os.truncate(path, DATA_URI_LIMIT_BYTES["image"])
    with open_local_media(str(path), "image", "uri", [root]) as media:
        assert media.size == DATA_URI_LIMIT_BYTES["image"]


# Local files: where they may come from


def test_traversal_out_of_the_root_is_refused_without_information(tmp_path: Path, root: Path) -> None:
    write(tmp_path / "outside" / "x.mp4", MP4)
    message = refusal(f"{root}/../outside/x.mp4", "video", [root])
    assert_says_nothing_about_the_file(message, tmp_path)
    assert str(root) in message


def test_existing_and_missing_files_outside_the_roots_get_the_same_answer(tmp_path: Path, root: Path) -> None:
    existing = write(tmp_path / "outside" / "x.mp4", MP4)
    missing = tmp_path / "outside" / "y.mp4"
    first = refusal(existing, "video", [root]).replace(str(existing), "<path>")
    second = refusal(missing, "video", [root]).replace(str(missing), "<path>")
    assert first == second
    assert_says_nothing_about_the_file(first, tmp_path)


def test_dotdot_that_stays_inside_the_root_is_resolved(root: Path) -> None:
    path = write(root / "clip.mp4", MP4)
    (root / "sub").mkdir()
    with open_local_media(f"{root}/sub/../clip.mp4", "video", "videoUri", [root]) as media:
        assert media.path == path.resolve()


def test_a_symlink_inside_the_root_pointing_outside_is_refused(tmp_path: Path, root: Path) -> None:
    target = write(tmp_path / "outside" / "secret.mp4", MP4)
    (root / "link.mp4").symlink_to(target)
    (root / "linkdir").symlink_to(target.parent, target_is_directory=True)
    assert_says_nothing_about_the_file(refusal(root / "link.mp4", "video", [root]), tmp_path)
    assert_says_nothing_about_the_file(refusal(root / "linkdir" / "secret.mp4", "video", [root]), tmp_path)


def test_a_symlink_within_the_root_is_followed(root: Path) -> None:
    target = write(root / "real" / "clip.mp4", MP4)
    (root / "alias.mp4").symlink_to(target)
    with open_local_media(str(root / "alias.mp4"), "video", "videoUri", [root]) as media:
        assert media.path == target.resolve()


def test_a_root_given_through_a_symlink_works(tmp_path: Path, root: Path) -> None:
    path = write(root / "clip.mp4", MP4)
    (tmp_path / "root-link").symlink_to(root, target_is_directory=True)
    with open_local_media(str(path), "video", "videoUri", [tmp_path / "root-link"]) as media:
        assert media.path == path.resolve()


@pytest.mark.parametrize("relative", [".secret.mp4", ".cache/clip.mp4", "a/.git/b/clip.mp4"])
def test_hidden_files_and_directories_are_refused(root: Path, relative: str) -> None:
    path = write(root / relative, MP4)
    assert "hidden" in refusal(path, "video", [root])


def test_a_visible_name_resolving_to_a_hidden_file_is_refused(root: Path) -> None:
    target = write(root / ".private" / "clip.mp4", MP4)
    (root / "clip.mp4").symlink_to(target)
    assert "hidden" in refusal(root / "clip.mp4", "video", [root])


def test_a_root_inside_a_hidden_directory_is_fine(tmp_path: Path) -> None:
    hidden_root = tmp_path / ".config" / "clips"
    path = write(hidden_root / "clip.mp4", MP4)
    with open_local_media(str(path), "video", "videoUri", [hidden_root]) as media:
        assert media.media_type == "video/mp4"


def test_a_missing_file_inside_the_root_is_reported_as_missing(root: Path) -> None:
    assert "does not exist" in refusal(root / "nope.mp4", "video", [root])


def test_a_directory_is_refused(root: Path) -> None:
    (root / "clips.mp4").mkdir()
    assert "is a directory" in refusal(root / "clips.mp4", "video", [root])


def test_a_fifo_is_refused_without_hanging(root: Path) -> None:
    fifo = root / "pipe.mp4"
    os.mkfifo(fifo)
    outcome: list[str] = []
    worker = threading.Thread(target=lambda: outcome.append(refusal(fifo, "video", [root])), daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(timeout=3)
    assert not worker.is_alive(), "opening a FIFO hung"
    assert time.monotonic() - started < 1
    assert "not a regular file" in outcome[0]


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_is_refused_outside_and_inside_the_roots(root: Path) -> None:
    assert_says_nothing_about_the_file(refusal("/dev/zero", "video", [root]), root)
    assert "not a regular file" in refusal("/dev/zero", "video", [Path("/dev")])


def test_a_nul_byte_is_refused(root: Path) -> None:
    assert "NUL byte" in refusal(f"{root}/clip.mp4\x00.png", "video", [root])
    assert "NUL byte" in refusal(f"file://{root}/clip%00.mp4", "video", [root])


@pytest.mark.parametrize("relative", ["clip.mp4", "./clip.mp4", "file:clip.mp4"])
def test_relative_paths_are_refused(root: Path, relative: str) -> None:
    assert "absolute" in refusal(relative, "video", [root])


# Local files: spellings of a path


def test_file_uris_with_percent_encoding(root: Path) -> None:
    path = write(root / "my clips" / "take #1 (été).mp4", MP4)
    encoded = str(root).replace(" ", "%20") + "/my%20clips/take%20%231%20%28%C3%A9t%C3%A9%29.mp4"
    for uri in (f"file://{encoded}", f"file://localhost{encoded}", f"FILE://{encoded}"):
        with open_local_media(uri, "video", "videoUri", [root]) as media:
            assert media.path == path.resolve()


def test_a_file_uri_naming_another_host_is_refused(root: Path) -> None:
    assert "another host" in refusal(f"file://fileserver{root}/clip.mp4", "video", [root])


def test_tilde_expands_to_the_home_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    path = write(home / "Videos" / "clip.mp4", MP4)
    monkeypatch.setenv("HOME", str(home))
    roots = default_allowed_roots(None)
    assert roots == [home]
    with open_local_media("~/Videos/clip.mp4", "video", "videoUri", roots) as media:
        assert media.path == path.resolve()


def test_default_allowed_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_allowed_roots("") == [tmp_path]
    assert default_allowed_roots(f"/a{os.pathsep}~/b{os.pathsep}{os.pathsep}/a") == [Path("/a"), tmp_path / "b"]
    with pytest.raises(ValueError, match=ALLOWED_DIRS_ENV):
        default_allowed_roots("relative/dir")


def test_resolve_media_input_dispatches(root: Path) -> None:
    url = "https://cdn.example.com/a.mp4"
    assert resolve_media_input(url, "video", "videoUri", [root]) == url
    local = resolve_media_input(str(write(root / "a.mp4", MP4)), "video", "videoUri", [root])
    assert isinstance(local, LocalMedia)
    local.close()
    for bad, expected in [
        ("http://example.com/a.mp4", "only https://"),
        ("clips/a.mp4", "Relative paths"),
        ("data:image/gif;base64,R0lG", "GIF"),
        ("https://10.0.0.1/a.mp4", "IP address"),
    ]:
        with pytest.raises(MediaError, match=expected):
            resolve_media_input(bad, "video", "videoUri", [root])


# Local files: changes between the check and the send


def test_a_file_deleted_after_the_check_still_streams_the_checked_bytes(root: Path) -> None:
    content = MP4 + os.urandom(5000)
    path = write(root / "clip.mp4", content)
    with open_local_media(str(path), "video", "videoUri", [root]) as media:
        path.unlink()
        assert b"".join(media.iter_data_uri_chunks(999))[len(media.data_uri_prefix) :] == base64.b64encode(content)


def test_a_symlink_swapped_in_after_the_check_does_not_redirect_the_read(tmp_path: Path, root: Path) -> None:
    content = MP4 + b"original"
    path = write(root / "clip.mp4", content)
    write(tmp_path / "secret.mp4", MP4 + b"secret!!")
    with open_local_media(str(path), "video", "videoUri", [root]) as media:
        path.unlink()
        path.symlink_to(tmp_path / "secret.mp4")
        assert base64.b64decode(b"".join(media.iter_data_uri_chunks())[len(media.data_uri_prefix) :]) == content


@pytest.mark.parametrize("change", ["truncate", "append", "rewrite"])
def test_a_file_changed_after_the_check_stops_the_stream(root: Path, change: str) -> None:
    path = write(root / "clip.mp4", MP4 + b"\x00" * 10_000)
    with open_local_media(str(path), "video", "videoUri", [root]) as media:
        if change == "truncate":
            os.truncate(path, 5000)
        elif change == "append":
            with path.open("ab") as grow:
                grow.write(b"more")
        else:
            with path.open("r+b") as same_size:
                same_size.seek(100)
                same_size.write(b"x")
            stat = path.stat()
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        with pytest.raises(MediaError, match="changed while it was being sent"):
            b"".join(media.iter_data_uri_chunks(3000))


# The streamed request body


def decoded_media(document: Any, prefix: str) -> bytes:
    assert isinstance(document, str)
    assert document.startswith(prefix)
    return base64.b64decode(document[len(prefix) :], validate=True)


@pytest.mark.anyio
@pytest.mark.parametrize(("size", "chunk_size"), [(len(MP4), 192 * 1024), (1_000_000, 100_000), (4097, 3)])
async def test_streamed_body_is_exact_json(root: Path, size: int, chunk_size: int) -> None:
    content = (MP4 + os.urandom(size))[:size]
    with open_local_media(str(write(root / "clip.mp4", content)), "video", "videoUri", [root]) as media:
        body = StreamingJsonBody(
            {"model": "gen4_aleph", "promptText": "make it snow ❄ «ünïcode»", "videoUri": media, "seed": 7},
            chunk_size=chunk_size,
        )
        raw = await collect(body)
    assert len(raw) == body.content_length
    assert body.headers["Content-Length"] == str(len(raw))
    document = json.loads(raw)
    assert decoded_media(document.pop("videoUri"), "data:video/mp4;base64,") == content
    assert document == {"model": "gen4_aleph", "promptText": "make it snow ❄ «ünïcode»", "seed": 7}


@pytest.mark.anyio
async def test_streamed_body_with_nested_references_and_a_second_pass(root: Path) -> None:
    video = MP4 + os.urandom(300_001)
    image = PNG + os.urandom(77_777)
    with (
        open_local_media(str(write(root / "clip.mp4", video)), "video", "videoUri", [root]) as clip,
        open_local_media(str(write(root / "ref.png", image)), "image", "references[0].uri", [root]) as ref,
    ):
        source = {
            "videoUri": clip,
            "references": [{"type": "image", "uri": ref}, {"type": "image", "uri": "https://x.example/r.png"}],
            "contentModeration": {"publicFigureThreshold": "low"},
            "ratio": None,
            "flags": (True, 1.5),
        }
        body = StreamingJsonBody(source, chunk_size=65_536)
        first = await collect(body)
        second = await collect(body)
        assert body.media == (clip, ref)
    assert first == second
    assert len(first) == body.content_length
    document = json.loads(first)
    assert decoded_media(document["videoUri"], "data:video/mp4;base64,") == video
    assert decoded_media(document["references"][0]["uri"], "data:image/png;base64,") == image
    plain = {key: value for key, value in source.items() if key not in ("videoUri", "references")}
    expected = json.dumps({**plain, "flags": [True, 1.5]}, ensure_ascii=False, separators=(",", ":"))
    assert json.dumps({key: document[key] for key in plain}, ensure_ascii=False, separators=(",", ":")) == expected
    assert document["references"][1] == {"type": "image", "uri": "https://x.example/r.png"}


@pytest.mark.anyio
async def test_a_body_without_media_matches_json_dumps() -> None:
    source = {"promptText": 'quote " backslash \\ newline \n emoji 😀', "seed": 0, "nested": {"a": [1, {}]}}
    body = StreamingJsonBody(source)
    expected = json.dumps(source, ensure_ascii=False, separators=(",", ":")).encode()
    assert await collect(body) == expected
    assert body.content_length == len(expected)


def test_a_body_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(TypeError):
        StreamingJsonBody({"seed": {1: "not a string key"}})
    with pytest.raises(ValueError):
        StreamingJsonBody({"seed": float("nan")})


@pytest.mark.anyio
async def test_a_truncated_file_aborts_the_streamed_body(root: Path) -> None:
    path = write(root / "clip.mp4", MP4 + b"\x00" * 50_000)
    with open_local_media(str(path), "video", "videoUri", [root]) as media:
        body = StreamingJsonBody({"videoUri": media}, chunk_size=3000)
        os.truncate(path, 20_000)
        with pytest.raises(MediaError):
            await collect(body)


def test_materialize_describes_files_without_their_bytes(root: Path) -> None:
    content = MP4 + b"abc"
    with open_local_media(str(write(root / "clip.mp4", content)), "video", "videoUri", [root]) as media:
        described = materialize({"videoUri": media, "references": [{"uri": media}], "seed": 1})
    expected_media = {
        "local_file": str((root / "clip.mp4").resolve()),
        "media_type": "video/mp4",
        "bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    assert described == {"videoUri": expected_media, "references": [{"uri": expected_media}], "seed": 1}
    json.dumps(described)


class OneRequestServer:
    """A real HTTP/1.1 listener on localhost that records one request's headers and body."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.body = b""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").lower().split("\r\n")[1:]
        self.headers = dict(line.split(": ", 1) for line in lines if ": " in line)
        with contextlib.suppress(asyncio.IncompleteReadError):
            self.body = await reader.readexactly(int(self.headers["content-length"]))
            writer.write(b'HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{"id":"t1"}')
            await writer.drain()
        writer.close()

    async def post(self, body: StreamingJsonBody) -> httpx.Response:
        server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with httpx.AsyncClient() as client:
                return await client.post(f"http://127.0.0.1:{port}/v1", content=body, headers=body.headers)
        finally:
            server.close()
            await server.wait_closed()


@pytest.mark.anyio
async def test_httpx_sends_the_body_with_content_length_not_chunked(root: Path) -> None:
    content = MP4 + os.urandom(400_000)
    server = OneRequestServer()
    with open_local_media(str(write(root / "clip.mp4", content)), "video", "videoUri", [root]) as media:
        body = StreamingJsonBody({"model": "gen4_aleph", "videoUri": media})
        response = await server.post(body)
    assert response.json() == {"id": "t1"}
    assert "transfer-encoding" not in server.headers
    assert int(server.headers["content-length"]) == body.content_length == len(server.body)
    assert decoded_media(json.loads(server.body)["videoUri"], "data:video/mp4;base64,") == content


@pytest.mark.anyio
async def test_a_file_truncated_during_the_send_reaches_the_caller_as_media_error(root: Path) -> None:
    path = write(root / "clip.mp4", MP4 + os.urandom(600_000))
    server = OneRequestServer()
    with open_local_media(str(path), "video", "videoUri", [root]) as media:
        body = StreamingJsonBody({"videoUri": media}, chunk_size=30_000)
        os.truncate(path, 300_000)
        with pytest.raises(MediaError, match="changed while it was being sent"):
            await server.post(body)
    assert server.body == b""
