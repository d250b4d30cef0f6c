"""Runway's ephemeral uploads (`POST /v1/uploads`), simulated: a slot, a presigned form POST, a `runway://` URI.

Runway direct answers `POST /v1/uploads {"filename", "type": "ephemeral"}` with an `uploadUrl`,
form `fields` and a `runwayUri`; the file then goes to `uploadUrl` as multipart/form-data (the
fields, then `file`), the way an S3 presigned POST works: no API key is involved. The URI can then
be used as a media input on Runway's routes for 24 hours. CometAPI documents no uploads.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from runway_mcp.sandbox.errors import Issue, PathItem

UPLOAD_PATH: Final = "/_sandbox/uploads"
RUNWAY_URI_PREFIX: Final = "runway://"
MAX_UPLOAD_BYTES: Final = 200 * 1024 * 1024


@dataclass
class Upload:
    """One upload slot and, once the form POST arrived, what was stored."""

    id: str
    filename: str
    key: str
    signature: str
    size: int | None = None
    sha256: str | None = None
    content_type: str | None = None
    form_headers: dict[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"{RUNWAY_URI_PREFIX}uploads/{self.id}"


class UploadBook:
    """Upload slots by id; thread-safe, since tests read it from another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._uploads: dict[str, Upload] = {}
        self._secret = secrets.token_bytes(16)

    def start(self, filename: str) -> Upload:
        upload_id = str(uuid.uuid4())
        key = f"ephemeral/{upload_id}/{filename}"
        signature = hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()
        upload = Upload(id=upload_id, filename=filename, key=key, signature=signature)
        with self._lock:
            self._uploads[upload_id] = upload
        return upload

    def get(self, upload_id: str) -> Upload | None:
        with self._lock:
            return self._uploads.get(upload_id)

    def completed(self) -> list[Upload]:
        with self._lock:
            return [u for u in self._uploads.values() if u.size is not None]

    def clear(self) -> None:
        with self._lock:
            self._uploads.clear()

    def find_uri(self, uri: str) -> Upload | None:
        prefix = f"{RUNWAY_URI_PREFIX}uploads/"
        upload = self.get(uri[len(prefix) :]) if uri.startswith(prefix) else None
        return upload if upload is not None and upload.size is not None else None


def slot_answer(book: UploadBook, body: Any, base_url: str) -> tuple[dict[str, Any] | None, list[Issue]]:
    """The answer to POST /v1/uploads, or the validation issues with its body."""
    if not isinstance(body, dict):
        return None, [Issue((), "Invalid input: expected object", "invalid_type")]
    issues: list[Issue] = []
    filename = body.get("filename")
    if not isinstance(filename, str) or not filename.strip() or "/" in filename:
        issues.append(Issue(("filename",), "Invalid input: expected a file name", "invalid_type"))
    if body.get("type") != "ephemeral":
        issues.append(Issue(("type",), 'Invalid option: expected one of "ephemeral"', "invalid_value"))
    if issues:
        return None, issues
    upload = book.start(str(filename))
    fields = {"key": upload.key, "x-amz-signature": upload.signature, "policy": "c2FuZGJveA=="}
    return {"uploadUrl": f"{base_url}{UPLOAD_PATH}/{upload.id}", "fields": fields, "runwayUri": upload.uri}, []


async def receive_form(book: UploadBook, request: Request) -> Response:
    """The presigned form POST: every field as issued, then the file; answers 204 like S3."""
    upload = book.get(request.path_params["upload_id"])
    if upload is None:
        return _s3_error(404, "NoSuchUpload", "The upload slot does not exist.")
    async with request.form(max_files=1, max_part_size=MAX_UPLOAD_BYTES) as form:
        if form.get("key") != upload.key or form.get("x-amz-signature") != upload.signature:
            return _s3_error(403, "SignatureDoesNotMatch", "The form fields do not match the upload slot.")
        file = form.get("file")
        if file is None or isinstance(file, str):
            return _s3_error(400, "InvalidArgument", "POST requires exactly one file upload per request.")
        digest = hashlib.sha256()
        size = 0
        while chunk := await file.read(1024 * 1024):
            size += len(chunk)
            digest.update(chunk)
        if size > MAX_UPLOAD_BYTES:
            return _s3_error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")
        upload.size, upload.sha256 = size, digest.hexdigest()
        upload.content_type = file.content_type
        upload.form_headers = {k.lower(): v for k, v in request.headers.items()}
    return Response(status_code=204)


def runway_uri_issues(book: UploadBook, body: Any, *, prefix_allows: bool) -> list[Issue]:
    """Issues for every `runway://` media URI in a create body: unknown uploads, or a provider without uploads."""
    issues: list[Issue] = []
    for path, value in _strings(body, ()):
        if not value.startswith(RUNWAY_URI_PREFIX):
            continue
        if not prefix_allows:
            issues.append(Issue(path, "Invalid input: runway:// URIs are not accepted on this route", "custom"))
        elif book.find_uri(value) is None:
            issues.append(Issue(path, "Invalid input: no completed upload for this runway:// URI", "custom"))
    return issues


def _strings(value: Any, path: tuple[PathItem, ...]) -> Iterator[tuple[tuple[PathItem, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def _s3_error(status: int, code: str, message: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return Response(body, status_code=status, media_type="application/xml")
