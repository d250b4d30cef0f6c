"""Local media files: a path on the user's disk, checked and streamed as a data URI.

Every media field (`videoUri`, a reference image `uri`) takes what the upstream takes, an HTTPS
URL or a base64 data URI, and also a local path that this module turns into a data URI. A local
file is opened once and validated through the open descriptor (so a path swapped after the check
cannot redirect the read), sniffed by content rather than extension, and streamed in chunks by
`runway_mcp.media.body.StreamingJsonBody` without ever being held in memory whole. The directories
it may read from are handed in (see `Settings.allowed_roots`). This module is the public face of
media handling: it re-exports the URL and data URI checks of `runway_mcp.media.checks`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import threading
from collections.abc import Generator, Sequence
from pathlib import Path, PurePath
from types import TracebackType
from typing import Final, Self
from urllib.parse import unquote

from runway_mcp.catalog import ACCEPTED_MEDIA_TYPES, DATA_URI_LIMIT_BYTES, MediaKind
from runway_mcp.config import ALLOWED_DIRS_ENV
from runway_mcp.media.checks import (
    MediaError,
    MediaUriClass,
    check_data_uri,
    check_https_url,
    classify_media_uri,
    invalid_media_uri_problem,
    is_windows_drive_path,
    media_type_problem,
    oversize_problem,
    preview,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "LocalMedia",
    "MediaError",
    "MediaUriClass",
    "check_data_uri",
    "check_https_url",
    "classify_media_uri",
    "open_local_media",
    "resolve_media_input",
]

# A multiple of 3, so the base64 of consecutive chunks concatenates into valid base64.
DEFAULT_CHUNK_SIZE: Final = 192 * 1024

# O_NONBLOCK: opening a FIFO swapped in after the check must not hang. O_NOFOLLOW: the last
# component must not have become a symlink. Flags a platform lacks are simply left out.
_OPEN_FLAGS: Final = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_DIR_FLAGS: Final = (
    getattr(os, "O_PATH", os.O_RDONLY)
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_SNIFF_BYTES: Final = 16
_SEEK_LOCK: Final = threading.Lock()
# ISO BMFF brands of still-image formats that share the MP4 container.
_IMAGE_BRANDS: Final = {
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heic",
    b"msf1": "image/heic",
}
# Top-level atoms that old QuickTime files start with instead of `ftyp`.
_QUICKTIME_ATOMS: Final = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


class LocalMedia:
    """A validated local file, held open, that streams as `data:<type>;base64,...`.

    The descriptor was checked when opened; reads go through it (never the path again), by offset,
    so iterating again for a resend starts from the first byte. A file that changes size or
    modification time before it has been sent in full raises MediaError. A file deleted after the
    check still streams the bytes that were checked, since the open descriptor keeps them alive.
    Made by `open_local_media`; close it (or use it as a context manager) when the request is done.
    """

    def __init__(
        self, file: io.FileIO, checked: os.stat_result, path: Path, media_type: str, kind: MediaKind, field: str
    ) -> None:
        self._file = file
        self._checked = checked
        self._sha256: str | None = None
        self.path = path
        self.media_type = media_type
        self.kind = kind
        self.field = field
        self.size = checked.st_size

    def __repr__(self) -> str:
        return f"LocalMedia({str(self.path)!r}, {self.media_type}, {self.size} bytes)"

    @property
    def data_uri_prefix(self) -> bytes:
        """The `data:<type>;base64,` that precedes the file's base64."""
        return f"data:{self.media_type};base64,".encode("ascii")

    @property
    def encoded_length(self) -> int:
        """Exact length in bytes of the whole data URI, prefix included."""
        return len(self.data_uri_prefix) + 4 * -(-self.size // 3)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the file: remembered from the last full stream, else read now."""
        if self._sha256 is None:
            hasher = hashlib.sha256()
            for block in self._iter_blocks(DEFAULT_CHUNK_SIZE):
                hasher.update(block)
            self._sha256 = hasher.hexdigest()
        return self._sha256

    @property
    def closed(self) -> bool:
        """Whether close() has been called."""
        return self._file.closed

    def describe(self) -> dict[str, str | int]:
        """A short stand-in for logs, dry runs and the ledger: never the file's bytes."""
        return {
            "local_file": str(self.path),
            "media_type": self.media_type,
            "bytes": self.size,
            "sha256": self.sha256,
        }

    def iter_data_uri_chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Generator[bytes, None, None]:
        """The data URI as bytes: the prefix, then base64 of the file read `chunk_size` at a time.

        `chunk_size` is rounded down to a multiple of 3 so the pieces concatenate into one valid
        base64 string. Each call starts again from the beginning of the file.
        """
        hasher = hashlib.sha256()
        yield self.data_uri_prefix
        for block in self._iter_blocks(max(3, chunk_size - chunk_size % 3)):
            hasher.update(block)
            yield base64.b64encode(block)
        self._sha256 = hasher.hexdigest()

    def close(self) -> None:
        """Close the file; further reads fail."""
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def read_at(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes of the checked file from `offset`, through its descriptor (to read its header)."""
        return _read_at(self._file.fileno(), offset, max(0, min(length, self.size - offset)))

    def iter_bytes(self, block_size: int = DEFAULT_CHUNK_SIZE) -> Generator[bytes, None, None]:
        """The file's raw bytes in blocks (for an upload), with the same change checks as the data URI."""
        return self._iter_blocks(block_size)

    def _iter_blocks(self, block_size: int) -> Generator[bytes, None, None]:
        fd = self._file.fileno()
        offset = 0
        while offset < self.size:
            wanted = min(block_size, self.size - offset)
            block = _read_at(fd, offset, wanted)
            if len(block) != wanted:
                raise self._changed(f"it now ends after {offset + len(block)} bytes")
            offset += wanted
            if offset == self.size:
                # Checked before the last block leaves, so a changed file never completes a request.
                self._check_unchanged()
            yield block

    def _check_unchanged(self) -> None:
        fd = self._file.fileno()
        now = os.fstat(fd)
        if now.st_size != self.size or _read_at(fd, self.size, 1):
            raise self._changed(f"it is now {now.st_size} bytes")
        if now.st_mtime_ns != self._checked.st_mtime_ns:
            raise self._changed("it was modified")

    def _changed(self, how: str) -> MediaError:
        return MediaError(
            self.field,
            f"{self.field}: {self.path} changed while it was being sent (it was {self.size} bytes when "
            f"checked; {how}). The request was stopped before it was complete, so nothing was "
            "submitted. Wait until the file is fully written, then try again.",
        )


def open_local_media(
    raw: str, kind: MediaKind, field: str, allowed_roots: Sequence[Path], *, max_bytes: int | None = None
) -> LocalMedia:
    """Open and validate a local file (absolute path, `~/...` or `file://` URI) for a `kind` field.

    Only regular, non-hidden files under `allowed_roots` (after resolving `..` and symlinks) are
    opened. The media type is sniffed from the content, and the size must fit a data URI (or
    `max_bytes`, when the provider can take an upload instead). About a path outside the roots
    nothing is said but that: not whether it exists, nor what it is.
    """
    given = _parse_local_path(raw, field)
    roots = [root.expanduser() for root in allowed_roots]
    try:
        real_roots = [Path(os.path.realpath(root)) for root in roots]
        real = Path(os.path.realpath(given))
    except (OSError, RuntimeError, ValueError) as exc:  # a path changing while it is resolved, a loop
        raise MediaError(
            field, f"{field}: {given} could not be resolved ({type(exc).__name__}); check the path and try again."
        ) from None
    # Lexically inside too: realpath of an outside path with `..` could otherwise hint at what exists.
    if not (_is_under(Path(os.path.normpath(given)), roots + real_roots) and _is_under(real, real_roots)):
        raise MediaError(
            field,
            f"{field}: {given} is outside the directories this server may read from "
            f"({', '.join(map(str, roots))}), or leads outside them through '..' or a symbolic link. "
            f"Move or copy the file into one of them, or add its directory to {ALLOWED_DIRS_ENV} "
            f"(entries separated by '{os.pathsep}') in the server's configuration and restart it.",
        )
    hidden = _hidden_part(given, roots + real_roots) or _hidden_part(real, real_roots)
    if hidden:
        raise MediaError(
            field,
            f"{field}: {given} is or lies in a hidden file or directory ({hidden}); hidden files are "
            "never sent. Copy the file to a visible location and pass that path.",
        )
    try:
        # A pre-check on the path, so devices and FIFOs are refused without ever being opened.
        _require_regular(os.stat(real, follow_symlinks=False), given, field)
        file = io.FileIO(_open_without_symlinks(real), "rb")
    except OSError as exc:
        raise _open_error(exc, given, field) from exc
    try:
        checked = os.fstat(file.fileno())
        _require_regular(checked, given, field)
        if getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(file.fileno(), True)
        if checked.st_size == 0:
            raise MediaError(field, f"{field}: {given} is empty (0 bytes); there is nothing to send.")
        media_type = _sniff(_read_at(file.fileno(), 0, _SNIFF_BYTES)) or ""
        if media_type not in ACCEPTED_MEDIA_TYPES[kind]:
            note = " The type is read from the file's content, not its name."
            raise MediaError(field, media_type_problem(field, f"{given} is", media_type, kind, note))
        if checked.st_size > (max_bytes or DATA_URI_LIMIT_BYTES[kind]):
            raise MediaError(field, oversize_problem(field, str(given), checked.st_size, kind, max_bytes))
    except BaseException:
        file.close()
        raise
    return LocalMedia(file, checked, real, media_type, kind, field)


def resolve_media_input(
    value: str, kind: MediaKind, field: str, allowed_roots: Sequence[Path], *, max_bytes: int | None = None
) -> str | LocalMedia:
    """Check one media field: an HTTPS URL or data URI comes back unchanged, a local path opened.

    Raises MediaError with every problem found, before anything is sent.
    """
    match classify_media_uri(value):
        case "local":
            return open_local_media(value, kind, field, allowed_roots, max_bytes=max_bytes)
        case "https":
            problems = check_https_url(value, field)
        case "data":
            problems = check_data_uri(value, kind, field)
        case _:
            problems = [invalid_media_uri_problem(value, field)]
    if problems:
        raise MediaError(field, " ".join(problems))
    return value


def _parse_local_path(raw: str, field: str) -> Path:
    if "\x00" in raw:
        raise MediaError(field, f"{field}: the path contains a NUL byte, which no file name can contain.")
    text = raw
    if raw[:7].lower() == "file://":
        # Split by hand rather than urlsplit: a literal '#' or '?' belongs to the file name.
        host, _, rest = raw[7:].partition("/")
        if host.lower() not in ("", "localhost"):
            raise MediaError(
                field, f"{field}: {preview(raw)} names another host ({host}); only local files can be read."
            )
        text = unquote("/" + rest)
        if is_windows_drive_path(text[1:]):
            text = text[1:]
        if "\x00" in text:
            raise MediaError(field, f"{field}: the file URI decodes to a path with a NUL byte.")
    path = Path(os.path.expanduser(text))
    if not path.is_absolute():
        raise MediaError(
            field, f"{field}: {preview(raw)} is not an absolute path; give the full path, e.g. ~/clip.mp4."
        )
    return path


def _is_under(path: PurePath, roots: Sequence[PurePath]) -> bool:
    return any(path.is_relative_to(root) for root in roots)


def _hidden_part(path: PurePath, roots: Sequence[PurePath]) -> str | None:
    """The first part below the closest root whose name starts with '.', if any."""
    below = [path.relative_to(root).parts for root in roots if path.is_relative_to(root)]
    parts = min(below, key=len) if below else path.parts
    return next((part for part in parts if part.startswith(".") and part not in (".", "..")), None)


def _open_without_symlinks(real: Path) -> int:
    """Open a symlink-free path one component at a time, refusing any symlink swapped in since."""
    if os.open not in os.supports_dir_fd:
        return os.open(real, _OPEN_FLAGS)
    *directories, name = real.parts
    dir_fd = os.open(directories[0], _DIR_FLAGS)
    try:
        for part in directories[1:]:
            parent_fd, dir_fd = dir_fd, -1
            try:
                dir_fd = os.open(part, _DIR_FLAGS, dir_fd=parent_fd)
            finally:
                os.close(parent_fd)
        return os.open(name, _OPEN_FLAGS, dir_fd=dir_fd)
    finally:
        if dir_fd >= 0:
            os.close(dir_fd)


def _read_at(fd: int, offset: int, length: int) -> bytes:
    """Up to `length` bytes from `offset`, fewer only at the end of the file."""
    pieces: list[bytes] = []
    while length > 0:
        if hasattr(os, "pread"):
            piece = os.pread(fd, length, offset)
        else:  # no pread (Windows): a seek and its read must not interleave with another reader's
            with _SEEK_LOCK:
                os.lseek(fd, offset, os.SEEK_SET)
                piece = os.read(fd, length)
        if not piece:
            break
        pieces.append(piece)
        offset += len(piece)
        length -= len(piece)
    return b"".join(pieces)


def _require_regular(st: os.stat_result, given: Path, field: str) -> None:
    if stat.S_ISREG(st.st_mode):
        return
    if stat.S_ISDIR(st.st_mode):
        raise MediaError(field, f"{field}: {given} is a directory; give the path of a file inside it.")
    raise MediaError(
        field, f"{field}: {given} is not a regular file (a device, pipe, socket or link); give a media file."
    )


def _open_error(exc: OSError, given: Path, field: str) -> MediaError:
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return MediaError(field, f"{field}: {given} does not exist; check the path and its spelling.")
    if isinstance(exc, PermissionError):
        return MediaError(field, f"{field}: {given} cannot be read (permission denied).")
    return MediaError(field, f"{field}: {given} could not be opened ({exc.strerror or exc}); try again.")


def sniff_media_type(head: bytes) -> str | None:
    """The media type a file's first bytes announce (MP4/MOV, WebM, JPEG, PNG, WebP, GIF), or None."""
    return _sniff(head)


def _sniff(head: bytes) -> str | None:
    """The media type announced by a file's first bytes, or None when not a known format."""
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return _IMAGE_BRANDS.get(brand) or ("video/quicktime" if brand == b"qt  " else "video/mp4")
    if head[4:8] in _QUICKTIME_ATOMS:
        return "video/quicktime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None
