"""What a media field's value becomes in the upstream body: an HTTPS URL, a data URI, or a local file.

The checks themselves live in `media.py`; this module applies the server's policy (are local
files allowed, from which directories) and collects problems for one combined error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runway_mcp.catalog import MediaKind
from runway_mcp.media import LocalMedia, MediaError, classify_media_uri, resolve_media_input


@dataclass(frozen=True)
class MediaPolicy:
    """Where media may come from. Local files are read only from `allowed_roots`, and only when enabled."""

    allow_local_files: bool = True
    allowed_roots: Sequence[Path] = field(default_factory=tuple)


@dataclass
class MediaValue:
    """One media field, checked: `body_value` is the string to send, or an open `LocalMedia` to stream."""

    field: str
    kind: MediaKind
    body_value: Any

    @property
    def is_local(self) -> bool:
        return isinstance(self.body_value, LocalMedia)

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
        return MediaValue(field_name, kind, resolve_media_input(value, kind, field_name, policy.allowed_roots))
    except MediaError as exc:
        problems.append(exc.message)
        return None
