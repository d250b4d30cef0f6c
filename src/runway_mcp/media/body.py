"""A JSON request body whose media fields stream from local files, with a length known up front.

The upstream takes a local clip only as a data URI inside the JSON body, which can reach tens of
megabytes. `StreamingJsonBody` encodes everything else ahead of time and streams each `LocalMedia`
as a JSON string chunk by chunk, reading the file in a worker thread, so memory stays at a couple
of chunks whatever the file size. Its exact `content_length` lets the HTTP client send a
Content-Length header instead of chunked encoding.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import anyio.to_thread

from runway_mcp.media.local import DEFAULT_CHUNK_SIZE, LocalMedia

Segment = bytes | LocalMedia


class StreamingJsonBody:
    """The JSON encoding of `body`, where any value (however nested) may be a `LocalMedia`.

    Iterate it with `async for` as many times as needed (a resend starts from the first byte);
    the output is `json.dumps(..., separators=(",", ":"), ensure_ascii=False)` encoded as UTF-8,
    with each local file in place as its data URI string. A file that changes before it has been
    sent in full raises MediaError out of the iteration (and out of the HTTP client's send) before
    the last byte, so the server never receives a complete request.
    """

    def __init__(self, body: Mapping[str, Any], *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        segments: list[Segment] = []
        _encode(body, segments)
        self._segments = tuple(_merge_bytes(segments))
        self._chunk_size = chunk_size
        self.content_length = sum(
            segment.encoded_length if isinstance(segment, LocalMedia) else len(segment) for segment in self._segments
        )

    @property
    def media(self) -> tuple[LocalMedia, ...]:
        """The local files this body streams, in order of appearance."""
        return tuple(segment for segment in self._segments if isinstance(segment, LocalMedia))

    @property
    def headers(self) -> dict[str, str]:
        """Content-Type and the exact Content-Length, to send with the body."""
        return {"Content-Type": "application/json", "Content-Length": str(self.content_length)}

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for segment in self._segments:
            if isinstance(segment, bytes):
                yield segment
                continue
            chunks = segment.iter_data_uri_chunks(self._chunk_size)
            try:
                while (chunk := await anyio.to_thread.run_sync(_next_chunk, chunks)) is not None:
                    yield chunk
            finally:
                chunks.close()


def materialize(body: Mapping[str, Any]) -> dict[str, Any]:
    """`body` with each `LocalMedia` replaced by its short description, for logs, dry runs and the ledger.

    The description is `{"local_file", "media_type", "bytes", "sha256"}`; the file's bytes never
    appear. Computing a digest not yet known reads the file, so call this off the event loop for
    large files.
    """
    return {key: _materialize_value(value) for key, value in body.items()}


def _materialize_value(value: Any) -> Any:
    if isinstance(value, LocalMedia):
        return value.describe()
    if isinstance(value, Mapping):
        return {key: _materialize_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_materialize_value(item) for item in value]
    return value


def _encode(value: Any, out: list[Segment]) -> None:
    """Append the JSON encoding of `value` to `out`, leaving each LocalMedia as its own segment."""
    if isinstance(value, LocalMedia):
        # A data URI is ASCII letters, digits, '+', '/', '=', ':', ';' and ',': nothing to escape.
        out.extend((b'"', value, b'"'))
    elif isinstance(value, Mapping):
        out.append(b"{")
        for index, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}")
            out.append((b"," if index else b"") + _dumps(key) + b":")
            _encode(item, out)
        out.append(b"}")
    elif isinstance(value, list | tuple):
        out.append(b"[")
        for index, item in enumerate(value):
            if index:
                out.append(b",")
            _encode(item, out)
        out.append(b"]")
    else:
        out.append(_dumps(value))


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _merge_bytes(segments: list[Segment]) -> Iterator[Segment]:
    pending = bytearray()
    for segment in segments:
        if isinstance(segment, bytes):
            pending += segment
            continue
        if pending:
            yield bytes(pending)
            pending.clear()
        yield segment
    if pending:
        yield bytes(pending)


def _next_chunk(chunks: Iterator[bytes]) -> bytes | None:
    return next(chunks, None)


class MultipartUpload:
    """A multipart/form-data body (the given fields, then the file as `file`), streamed, with its exact length.

    This is what a presigned storage form (Runway's ephemeral uploads) expects. Like
    `StreamingJsonBody`, it reads the file in a worker thread, a block at a time, and can be
    iterated again for a resend.
    """

    def __init__(
        self, fields: Mapping[str, str], filename: str, media: LocalMedia, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> None:
        self.boundary = f"runway-mcp-{secrets.token_hex(16)}"
        parts = [
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n{value}\r\n'
            for name, value in fields.items()
        ]
        parts.append(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; filename="{_quote(filename)}"\r\n'
            f"Content-Type: {media.media_type}\r\n\r\n"
        )
        self._head = "".join(parts).encode("utf-8")
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._media = media
        self._chunk_size = chunk_size
        self.content_length = len(self._head) + media.size + len(self._tail)

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Content-Type": f"multipart/form-data; boundary={self.boundary}",
            "Content-Length": str(self.content_length),
        }

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._head
        blocks = self._media.iter_bytes(self._chunk_size)
        try:
            while (block := await anyio.to_thread.run_sync(_next_chunk, blocks)) is not None:
                yield block
        finally:
            blocks.close()
        yield self._tail


def _quote(text: str) -> str:
    """A form-data parameter value: quotes, backslashes and line breaks cannot break out of it."""
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
