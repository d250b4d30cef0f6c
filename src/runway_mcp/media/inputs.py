"""What a media field's value becomes in the upstream body: an HTTPS URL, a data URI, or a local file.

The checks themselves live in `media/local.py` (files) and `media/checks.py` (URLs, data URIs); this
module applies the server's policy (are local files allowed, from which directories) and collects
problems for one combined error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runway_mcp.catalog import ACCEPTED_MEDIA_TYPES, DATA_URI_LIMIT_BYTES, MB, URL_ASSET_LIMIT_BYTES, MediaKind
from runway_mcp.media.local import LocalMedia, MediaError, classify_media_uri, resolve_media_input

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class MediaPolicy:
    """Where media may come from. Local files are read only from `allowed_roots`, and only when enabled."""

    allow_local_files: bool = True
    allowed_roots: Sequence[Path] = field(default_factory=tuple)
    # Set when the provider takes ephemeral uploads (Runway direct): larger local files go that way.
    upload_limit_bytes: int | None = None


@dataclass
class MediaValue:
    """One media field, checked: `body_value` is the string to send, or an open `LocalMedia` to stream."""

    field: str
    kind: MediaKind
    body_value: Any

    @property
    def is_https(self) -> bool:
        return isinstance(self.body_value, str) and self.body_value[:8].lower() == "https://"

    @property
    def is_local(self) -> bool:
        return isinstance(self.body_value, LocalMedia)

    @property
    def needs_upload(self) -> bool:
        """A local file too large for a data URI: it must go through the provider's uploads."""
        return isinstance(self.body_value, LocalMedia) and self.body_value.size > DATA_URI_LIMIT_BYTES[self.kind]

    def close(self) -> None:
        if isinstance(self.body_value, LocalMedia):
            self.body_value.close()


def prepare_media(
    value: str, kind: MediaKind, field_name: str, policy: MediaPolicy, problems: list[str]
) -> MediaValue | None:
    """Check one media field; on a problem, append it to `problems` and return None."""
    try:
        if not policy.allow_local_files and classify_media_uri(value) == "local":
            raise MediaError(
                field_name,
                f"{field_name}: local file paths are turned off on this server (it is serving over HTTP, where "
                "the caller is not the machine's owner). Give an HTTPS URL or a data URI instead.",
            )
        resolved = resolve_media_input(
            value, kind, field_name, policy.allowed_roots, max_bytes=policy.upload_limit_bytes
        )
        return MediaValue(field_name, kind, resolved)
    except MediaError as exc:
        problems.append(exc.message)
        return None


async def verify_remote_asset(http: httpx.AsyncClient, value: MediaValue) -> list[str]:
    """HEAD an HTTPS media URL the way the upstream will fetch it, and say what it would refuse.

    Runway does not follow redirects and needs a real Content-Type and a Content-Length. Problems
    are returned (not raised) so every field's problems end up in one error.
    """
    import httpx  # here, not at the top: the server starts without httpx until the first upstream call

    url = value.body_value
    try:
        response = await http.head(url, follow_redirects=False, headers={"Accept": "*/*"})
    except httpx.HTTPError as exc:
        return [f"{value.field}: the URL could not be checked ({type(exc).__name__}); is the host reachable?"]
    problems: list[str] = []
    if response.is_redirect:
        problems.append(
            f"{value.field}: the URL redirects (HTTP {response.status_code}); the upstream does not follow "
            "redirects. Give the final URL."
        )
    elif response.status_code != 200:
        problems.append(f"{value.field}: the URL answered HTTP {response.status_code} to a HEAD request, not 200.")
    else:
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if not media_type or media_type == "application/octet-stream":
            problems.append(
                f"{value.field}: the server sends no usable Content-Type ({media_type or 'none'}); the upstream "
                f"needs a real {value.kind} type such as {ACCEPTED_MEDIA_TYPES[value.kind][0]}."
            )
        elif not media_type.startswith(f"{value.kind}/"):
            problems.append(f"{value.field}: the URL serves {media_type}, not a {value.kind}.")
        length = response.headers.get("content-length")
        if not (length and length.isdigit()):
            problems.append(f"{value.field}: the server sends no Content-Length; the upstream needs one.")
        elif int(length) > URL_ASSET_LIMIT_BYTES[value.kind]:
            limit_mb = URL_ASSET_LIMIT_BYTES[value.kind] // MB
            problems.append(
                f"{value.field}: the file is {int(length) / MB:.1f} MB, over the {limit_mb} MB limit for a {value.kind} URL."
            )
    return problems
