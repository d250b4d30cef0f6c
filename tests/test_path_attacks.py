"""Every local-file rule, attacked end to end through the MCP tool and checked against what the upstream received.

A refusal must be a clear tool error and leave the sandbox's request log empty; an accepted file must arrive
as its exact bytes. The outside file in every test has distinctive bytes, and every body the sandbox received
is searched for them, so a read that escaped the allowed directories cannot go unnoticed.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import stat
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client

from runway_mcp.config import Settings
from runway_mcp.sandbox import Sandbox, SandboxServer
from runway_mcp.sandbox.media import asset_bytes
from runway_mcp.tools.server import build_server
from tests.support import decode_data_uri, error_text, make_settings

pytestmark = pytest.mark.anyio

MP4 = asset_bytes("sample_input.mp4")
PNG = asset_bytes("sample.png")
# Valid MP4s (the sniffing reads the head), distinguishable from each other anywhere in a body.
LEGIT = MP4 + b"LEGITIMATE-INSIDE-THE-ROOT" * 64
SECRET = MP4 + b"SECRET-OUTSIDE-THE-ROOT!" * 64
SECRET_MARK = b"SECRET-OUTSIDE-THE-ROOT!"
CALL_LIMIT_SECONDS = 10.0


@pytest.fixture
def root(settings: Settings) -> Path:
    (allowed,) = settings.allowed_roots()
    return allowed


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    place = tmp_path / "outside"
    place.mkdir()
    (place / "secret.mp4").write_bytes(SECRET)
    return place


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with Client(build_server(settings)) as connected:
        yield connected


async def send_video(client: Client, video_uri: str, **extra: object) -> tuple[bool, str]:
    """Call create_video_to_video; (accepted, error text or task id). Fails on anything but a clear answer."""
    with anyio.fail_after(CALL_LIMIT_SECONDS):
        result = await client.call_tool("create_video_to_video", {"video_uri": video_uri, "prompt_text": "x", **extra})
    if not result.is_error:
        assert result.structured_content is not None
        return True, str(result.structured_content["task_id"])
    text = error_text(result)
    assert "Traceback" not in text
    assert text.strip() != "Error executing tool create_video_to_video", "a crash, not a refusal"
    return False, text


def assert_no_secret_left(sandbox: Sandbox) -> None:
    """No body the sandbox received carries the outside file, raw or as base64 at any alignment."""
    # SECRET_MARK is 24 bytes, so its repetitions encode to a 32-character period at each of 3 alignments.
    needles = [SECRET_MARK, *(base64.b64encode(bytes(shift) + SECRET_MARK * 4)[8:-8] for shift in range(3))]
    for request in sandbox.api_requests():
        for needle in needles:
            assert needle not in request.body, f"outside bytes reached the upstream in {request.path}"


def sent_videos(sandbox: Sandbox) -> list[bytes]:
    return [decode_data_uri(r.json["videoUri"])[1] for r in sandbox.api_requests(method="POST")]


def file_uri(path: str) -> str:
    return "file://" + path


# Traversal, plain and percent-encoded


def traversal_spellings(root: Path, outside: Path) -> list[str]:
    up = f"{root}/.."
    name = outside.name
    return [
        f"{up}/{name}/secret.mp4",
        f"{root}/./../{name}/secret.mp4",
        f"{root}//..//{name}//secret.mp4",
        f"{root}/sub/../../{name}/secret.mp4",
        f"{root}/{'../' * 30}{outside}/secret.mp4",
        f"{root}/../{root.name}/../{name}/secret.mp4",
        f"{root}/..\\{name}\\secret.mp4",
        file_uri(f"{up}/{name}/secret.mp4"),
        file_uri(f"{root}/%2e%2e/{name}/secret.mp4"),
        file_uri(f"{root}/%2E%2E/{name}/secret.mp4"),
        file_uri(f"{root}/.%2e/{name}/secret.mp4"),
        file_uri(f"{root}/%2e./{name}/secret.mp4"),
        file_uri(f"{root}/..%2f{name}%2fsecret.mp4"),
        file_uri(f"{root}/%2e%2e%2F{name}%2Fsecret.mp4"),
        file_uri(f"{root}/sub%2f..%2f..%2f{name}/secret.mp4"),
        "file://localhost" + f"{root}/%2e%2e/{name}/secret.mp4",
        "file://" + f"{root}/%2e%2e/{name}/secret.mp4".replace("/", "%2f"),
        "file:" + f"{root}/../{name}/secret.mp4",
        f"file://{root}/../{name}/secret.mp4#",
        f"file://{root}/../{name}/secret.mp4?x=1",
        f"file://127.0.0.1{root}/../{name}/secret.mp4",
        f"file://..{root}/secret.mp4",
    ]


async def test_traversal_in_every_spelling_is_refused_and_nothing_is_sent(
    client: Client, sandbox: Sandbox, root: Path, outside: Path
) -> None:
    (root / "sub").mkdir()
    for spelling in traversal_spellings(root, outside):
        accepted, text = await send_video(client, spelling)
        assert not accepted, f"{spelling!r} was sent"
        assert "video_uri" in text, spelling
    assert sandbox.requests == []


async def test_percent_encoding_is_decoded_exactly_once(
    client: Client, sandbox: Sandbox, root: Path, outside: Path
) -> None:
    # Decoding twice would turn %252e%252e into '..' and escape; once, it names a directory called '%2e%2e'.
    literal = root / "%2e%2e" / outside.name
    literal.mkdir(parents=True)
    (literal / "secret.mp4").write_bytes(LEGIT)
    accepted, _ = await send_video(client, file_uri(f"{root}/%252e%252e/{outside.name}/secret.mp4"))
    assert accepted
    # The same encoding with no such directory: refused, and the outside file is not what gets read.
    (literal / "secret.mp4").unlink()
    accepted, text = await send_video(client, file_uri(f"{root}/%252e%252e/{outside.name}/secret.mp4"))
    assert not accepted and "does not exist" in text
    assert sent_videos(sandbox) == [LEGIT]
    assert_no_secret_left(sandbox)


async def test_home_relative_spellings_cannot_leave_the_root(
    client: Client, sandbox: Sandbox, root: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(root))
    for spelling in (f"~/../{outside.name}/secret.mp4", "~root/secret.mp4", "~nobody-such-user/secret.mp4", "~"):
        accepted, _ = await send_video(client, spelling)
        assert not accepted, spelling
    assert sandbox.requests == []


# Symlinks swapped between the check and the open


def _replace_with_symlink(path: Path, target: Path) -> None:
    temp = path.with_name(f".flip-{threading.get_ident()}")
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    temp.symlink_to(target, target_is_directory=target.is_dir())
    os.replace(temp, path)


def _replace_with_file(path: Path, content: bytes) -> None:
    temp = path.with_name(f".flip-{threading.get_ident()}")
    temp.write_bytes(content)
    os.replace(temp, path)


@contextlib.contextmanager
def flipping(flips: list[Callable[[], None]]) -> Iterator[list[int]]:
    """Run the flips round-robin in a thread until the block ends; yields the flip counter."""
    stop = threading.Event()
    count = [0]
    failures: list[BaseException] = []

    def run() -> None:
        try:
            while not stop.is_set():
                flips[count[0] % len(flips)]()
                count[0] += 1
                time.sleep(0.0001)  # dwell a moment in each state, so some calls see a stable one
        except BaseException as exc:  # surfaced in the test below
            failures.append(exc)

    # Switch threads far more often than the default 5 ms, so a flip can land between a check and an open.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    worker = threading.Thread(target=run, name="symlink-flipper", daemon=True)
    worker.start()
    try:
        yield count
    finally:
        stop.set()
        worker.join(timeout=5)
        sys.setswitchinterval(interval)
    assert not failures, f"the flipper failed: {failures[0]!r}"
    assert not worker.is_alive()


RACE_ROUNDS = 40
SWAPS = ["file-vs-symlink", "symlink-target", "parent-directory", "file-vs-fifo"]


def arm_swap(kind: str, root: Path, outside: Path) -> tuple[Path, list[Callable[[], None]]]:
    """The path the tool is given, and the flips that alternate it between legitimate and hostile."""
    legit = root / "legit.mp4"
    legit.write_bytes(LEGIT)
    secret = outside / "secret.mp4"
    if kind == "file-vs-symlink":
        target = root / "clip.mp4"
        return target, [lambda: _replace_with_file(target, LEGIT), lambda: _replace_with_symlink(target, secret)]
    if kind == "symlink-target":
        target = root / "clip.mp4"
        return target, [lambda: _replace_with_symlink(target, legit), lambda: _replace_with_symlink(target, secret)]
    if kind == "parent-directory":
        # A real directory inside the root, and a symlink to the outside directory, take turns at one name;
        # the file name is the same in both, legitimate inside and the secret outside.
        folder, parked = root / "dir", root / "parked-dir"
        folder.mkdir()
        (folder / "secret.mp4").write_bytes(LEGIT)

        def to_symlink() -> None:
            os.rename(folder, parked)
            _replace_with_symlink(folder, outside)

        def to_directory() -> None:
            folder.unlink()
            os.rename(parked, folder)

        return folder / "secret.mp4", [to_symlink, to_directory]
    target = root / "clip.mp4"
    fifo = root / "pipe"

    def to_fifo() -> None:
        with contextlib.suppress(FileNotFoundError):
            fifo.unlink()
        os.mkfifo(fifo)
        os.replace(fifo, target)

    return target, [lambda: _replace_with_file(target, LEGIT), to_fifo]


@pytest.mark.parametrize("kind", SWAPS)
async def test_a_path_flipped_during_the_call_sends_the_legitimate_bytes_or_nothing(
    client: Client, sandbox: Sandbox, root: Path, outside: Path, kind: str
) -> None:
    target, flips = arm_swap(kind, root, outside)
    outcomes: list[bool] = []

    async def call() -> None:
        outcomes.append((await send_video(client, str(target)))[0])

    with flipping(flips) as flipped:
        for _ in range(RACE_ROUNDS):
            async with anyio.create_task_group() as group:
                for _ in range(4):
                    group.start_soon(call)
    assert flipped[0] > 10, "the flipper barely ran; the race was not exercised"
    assert len(outcomes) == RACE_ROUNDS * 4
    assert any(outcomes), "not one call got through; the test proves nothing"
    bodies = sent_videos(sandbox)
    assert len(bodies) == sum(outcomes), "a refused call reached the upstream"
    assert all(body == LEGIT for body in bodies), "a body other than the legitimate file's exact bytes was sent"
    assert_no_secret_left(sandbox)


async def test_a_path_component_vanishing_while_it_is_resolved_is_a_clear_refusal(
    client: Client, sandbox: Sandbox, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Deterministically what the directory flip above hit by chance (it crashed the tool before issue 8's fix):
    # the symlink `dir` is seen by lstat and gone by the time realpath reads it.
    (root / "real").mkdir()
    (root / "real" / "clip.mp4").write_bytes(LEGIT)
    (root / "dir").symlink_to(root / "real", target_is_directory=True)
    readlink = os.readlink

    def vanished(path: str | os.PathLike[str], *args: object, **kwargs: object) -> str:
        if os.fspath(path) == str(root / "dir"):
            raise FileNotFoundError(2, "No such file or directory", os.fspath(path))
        return readlink(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "readlink", vanished)
    accepted, text = await send_video(client, str(root / "dir" / "clip.mp4"))
    assert not accepted and "video_uri" in text
    assert sandbox.requests == []


# Hidden files


async def test_hidden_files_in_every_spelling_are_refused(client: Client, sandbox: Sandbox, root: Path) -> None:
    (root / ".hidden.mp4").write_bytes(LEGIT)
    (root / ".dir").mkdir()
    (root / ".dir" / "clip.mp4").write_bytes(LEGIT)
    (root / "...mp4").write_bytes(LEGIT)
    (root / "sub").mkdir()
    (root / "sub" / "alias.mp4").symlink_to(root / ".hidden.mp4")
    (root / "visible-dir").symlink_to(root / ".dir", target_is_directory=True)
    spellings = [
        f"{root}/.hidden.mp4",
        f"{root}/.dir/clip.mp4",
        f"{root}/...mp4",
        f"{root}/sub/../.hidden.mp4",
        f"{root}/./.dir/./clip.mp4",
        f"{root}/sub/alias.mp4",
        f"{root}/visible-dir/clip.mp4",
        file_uri(f"{root}/%2ehidden.mp4"),
        file_uri(f"{root}/%2Edir/clip.mp4"),
    ]
    for spelling in spellings:
        accepted, text = await send_video(client, spelling)
        assert not accepted, spelling
        assert "hidden" in text, f"{spelling}: {text}"
    assert sandbox.requests == []


# Devices, FIFOs, /proc


async def test_devices_fifos_and_proc_files_are_refused_even_inside_allowed_directories(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    os.mkfifo(media / "pipe.mp4")
    (media / "pipe-link.mp4").symlink_to(media / "pipe.mp4")
    (media / "zero-link.mp4").symlink_to("/dev/zero")
    candidates = [
        str(media / "pipe.mp4"),
        file_uri(str(media / "pipe.mp4")),
        str(media / "pipe-link.mp4"),
        str(media / "zero-link.mp4"),
        "/dev/zero",
        "/dev/urandom",
        "/dev/null",
        "/dev/stdin",
        "/dev/fd/0",
        "/proc/self/environ",
        "/proc/self/cmdline",
        "/proc/self/mem",
        "/proc/self/fd/0",
    ]
    try:
        os.mknod(media / "char.mp4", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero's numbers
        candidates.append(str(media / "char.mp4"))
    except (PermissionError, OSError):
        pass  # not root here: the /dev entries above still cover device nodes
    roots = (media, Path("/dev"), Path("/proc"))
    settings = make_settings(sandbox_server.url, tmp_path, allowed_dirs=roots)
    async with Client(build_server(settings)) as client:
        for candidate in candidates:
            started = time.monotonic()
            accepted, text = await send_video(client, candidate)
            assert not accepted, candidate
            assert time.monotonic() - started < 3, f"{candidate} took too long: was it read?"
        reference = {"references": [{"uri": str(media / "pipe.mp4")}]}
        (media / "clip.mp4").write_bytes(LEGIT)
        accepted, text = await send_video(client, str(media / "clip.mp4"), **reference)
        assert not accepted and "references[0].uri" in text
    assert sandbox.requests == []


# Huge sparse files


def read_bytes_so_far() -> int:
    """Bytes this process has read through system calls (Linux), or -1 when unknown."""
    try:
        with open("/proc/self/io") as io:
            for line in io:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


@pytest.mark.parametrize("field", ["video_uri", "reference"])
async def test_a_one_terabyte_sparse_file_is_refused_by_size_without_being_read(
    client: Client, sandbox: Sandbox, root: Path, field: str
) -> None:
    huge = root / ("huge.mp4" if field == "video_uri" else "huge.png")
    with open(huge, "wb") as sparse:
        sparse.write(MP4 if field == "video_uri" else PNG)
        sparse.truncate(1 << 40)
    (root / "clip.mp4").write_bytes(LEGIT)
    before, started = read_bytes_so_far(), time.monotonic()
    if field == "video_uri":
        accepted, text = await send_video(client, str(huge))
    else:
        accepted, text = await send_video(client, str(root / "clip.mp4"), references=[{"uri": str(huge)}])
    elapsed, read = time.monotonic() - started, read_bytes_so_far() - before
    assert not accepted
    assert "1048576.0 MB" in text and "limit" in text
    assert elapsed < 2, f"refusing took {elapsed:.1f} s"
    if before >= 0:
        assert read < 1024 * 1024, f"{read} bytes were read while refusing a 1 TB file"
    assert sandbox.requests == []


# Odd names


ODD_NAMES = [
    "new\nline.mp4",
    "carriage\rreturn.mp4",
    "tab\there.mp4",
    "escape\x1b[31mred.mp4",
    "bell\x07.mp4",
    "delete\x7f.mp4",
    "right-to-left\u202e4pm.exe",
    "zero\u200bwidth.mp4",
    "emoji🎬clip.mp4",
    "e\u0301-decomposed.mp4",
    "x\n2099-01-01 00:00:00 CRITICAL runway_mcp: forged.mp4",
    "quote'\"`$(id).mp4",
    "percent%2e%2e%2fname.mp4",
    "a" * 255,
]


async def test_names_with_control_characters_send_their_exact_bytes(
    client: Client, sandbox: Sandbox, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ODD_NAMES:
        (root / name).write_bytes(LEGIT)
        accepted, text = await send_video(client, str(root / name))
        assert accepted, f"{name!r}: {text}"
    assert sent_videos(sandbox) == [LEGIT] * len(ODD_NAMES)
    # A name cannot forge a log line: no record's text carries a raw newline followed by a fake entry.
    for record in caplog.records:
        assert "\n2099-01-01" not in record.getMessage()


async def test_file_uris_carrying_control_characters_are_decoded_to_the_same_files(
    client: Client, sandbox: Sandbox, root: Path
) -> None:
    (root / "new\nline.mp4").write_bytes(LEGIT)
    (root / "tab\there.mp4").write_bytes(LEGIT)
    for uri in (file_uri(f"{root}/new%0Aline.mp4"), file_uri(f"{root}/tab%09here.mp4")):
        accepted, text = await send_video(client, uri)
        assert accepted, f"{uri!r}: {text}"
    assert sent_videos(sandbox) == [LEGIT, LEGIT]


async def test_names_too_long_for_the_filesystem_get_a_clear_refusal(
    client: Client, sandbox: Sandbox, root: Path
) -> None:
    deep = root
    for _ in range(20):  # about 5 KB of path: beyond PATH_MAX, built one component at a time
        deep = deep / ("d" * 250)
        try:
            deep.mkdir()
        except OSError:
            break
    for spelling in (str(root / ("a" * 256)), str(root / ("é" * 200)), str(deep / "clip.mp4"), str(root) + "/x" * 5000):
        accepted, text = await send_video(client, spelling)
        assert not accepted
        assert "video_uri" in text
    assert sandbox.requests == []


# A root that is itself a symlink


async def test_a_root_that_is_a_symlink_confines_like_its_target(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, outside: Path
) -> None:
    real = tmp_path / "real-root"
    real.mkdir()
    (real / "clip.mp4").write_bytes(LEGIT)
    (real / "escape.mp4").symlink_to(outside / "secret.mp4")
    link = tmp_path / "root-link"
    link.symlink_to(real, target_is_directory=True)
    (real / "loop").symlink_to(link / "clip.mp4")
    dangling = tmp_path / "dangling-root"
    dangling.symlink_to(tmp_path / "nowhere", target_is_directory=True)
    settings = make_settings(sandbox_server.url, tmp_path, allowed_dirs=(link, dangling))
    async with Client(build_server(settings)) as client:
        for good in (str(link / "clip.mp4"), str(real / "clip.mp4"), str(link / "loop"), file_uri(f"{link}/clip.mp4")):
            accepted, text = await send_video(client, good)
            assert accepted, f"{good}: {text}"
        for bad in (
            str(link / "escape.mp4"),
            f"{link}/../{outside.name}/secret.mp4",
            str(dangling / "clip.mp4"),
            f"{dangling}/../{outside.name}/secret.mp4",
        ):
            accepted, text = await send_video(client, bad)
            assert not accepted, bad
            assert "video_uri" in text
    assert sent_videos(sandbox) == [LEGIT] * 4
    assert_no_secret_left(sandbox)
