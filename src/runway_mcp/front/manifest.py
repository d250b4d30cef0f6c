"""The stdio manifest: the SDK's own answers to a client's static requests, kept beside the schema cache.

Nothing in it is written by hand. Each answer is what the SDK sent to a request a client made (the
`result` of its `initialize`, `server/discover`, `tools/list` ...), stored under that request's key
(`protocol.py`). The file is one per copy of the package and environment, like the schema cache,
and it is used only when both of these match the running process:

- the code key: this package's files, the installed versions of the SDK, mcp-types, pydantic and
  pydantic-core (their `.dist-info` directories and when they were written) and the interpreter;
- the configuration: the value of every environment variable `Settings.from_env` read when the
  answers were captured (the SDK side records them), and for a secret such as `COMETAPI_KEY` only
  whether it is set. A secret's value never enters the file, not even as part of a hash.

A file that is missing, unreadable, malformed, from another version or configuration, not owned by
this user or writable by others is not used: the server then starts the normal way.

Standard library only: this runs before the SDK is imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

TYPE_CHECKING = False  # typing costs the front milliseconds; mypy reads the imports below
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any, Final, Literal

    Shown = Literal["value", "presence"]

FORMAT: Final = 1
PACKAGE_DIR: Final = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
# Whose installed version changes what the SDK answers: this package, the SDK, its types, pydantic.
DISTRIBUTIONS: Final = ("cometapi_runway_mcp", "mcp", "mcp_types", "pydantic", "pydantic_core")
# Besides what Settings.from_env reads: where the defaults (home, cache, data, videos) come from.
PLATFORM_VARIABLES: Final = ("HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_VIDEOS_DIR")
OFF_VALUES: Final = ("off", "none", "false", "0")
MAX_CONFIGS: Final = 4
MAX_ANSWERS: Final = 32
MAX_FILE_BYTES: Final = 16 * 1024 * 1024


def cache_directory(environ: Mapping[str, str]) -> str | None:
    """Where the schema cache lives, worked out as `Settings.schema_cache_dir()` does, without pydantic or platformdirs.

    None when the cache is turned off (`RUNWAY_MCP_CACHE_DIR=off`) or the default directory is not
    one this function knows for certain (then the SDK side finds the two disagree and writes nothing).
    """
    cache = environ.get("RUNWAY_MCP_CACHE_DIR", "").strip()
    if cache:
        return None if cache.lower() in OFF_VALUES else os.path.expanduser(cache)
    data = environ.get("RUNWAY_MCP_DATA_DIR", "").strip()
    if data:
        return os.path.join(os.path.expanduser(data), "cache")
    home, platform = environ.get("HOME", ""), str(sys.platform)
    if not home.startswith("/"):
        return None
    if platform == "darwin":
        return os.path.join(home, "Library", "Caches", "runway-mcp")
    if platform.startswith("linux"):
        xdg = environ.get("XDG_CACHE_HOME", "").strip()
        return os.path.join(xdg if xdg.startswith("/") else os.path.join(home, ".cache"), "runway-mcp")
    return None


def manifest_path(directory: str) -> str:
    """One file per copy of the package and environment, so two virtualenvs do not keep rewriting each other's."""
    install = hashlib.sha256(f"{PACKAGE_DIR}\n{sys.prefix}".encode()).hexdigest()[:12]
    return os.path.join(directory, f"stdio-manifest-{install}.json")


def _stamp(path: str) -> str:
    try:
        info = os.stat(path)
    except OSError:
        return f"{path}:missing"
    return f"{path}:{info.st_size}:{info.st_mtime_ns}"


def _distribution_stamps(entries: Iterable[str]) -> dict[str, str]:
    """For each of DISTRIBUTIONS, its first `.dist-info` on the path, with when its RECORD was written."""
    found: dict[str, str] = {}
    for entry in entries:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if not name.endswith(".dist-info"):
                continue
            distribution = name.partition("-")[0].lower().replace(".", "_").replace("-", "_")
            if distribution in DISTRIBUTIONS and distribution not in found:
                found[distribution] = f"{name}:{_stamp(os.path.join(entry, name, 'RECORD'))}"
    return found


def code_key(package: str = PACKAGE_DIR, entries: Iterable[str] | None = None) -> str:
    """Changes whenever this package's files, the SDK, pydantic or the interpreter change."""
    parts = [f"format {FORMAT}", sys.version, sys.executable, sys.prefix]
    for root, directories, files in os.walk(package):
        directories[:] = sorted(d for d in directories if d != "__pycache__")
        parts += [_stamp(os.path.join(root, name)) for name in sorted(files)]
    stamps = _distribution_stamps(sys.path if entries is None else entries)
    parts += [stamps.get(name, f"{name}:missing") for name in DISTRIBUTIONS]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def config_fingerprint(variables: Mapping[str, Shown], environ: Mapping[str, str]) -> str:
    """A hash of the configuration: each variable's value, or for a secret only whether it is set."""
    items: list[list[str]] = []
    for name in sorted(variables):
        value = environ.get(name)
        if variables[name] == "presence":
            items.append([name, "set" if value and value.strip() else "unset"])
        else:
            items.append([name, "unset" if value is None else f"={value}"])
    return hashlib.sha256(json.dumps(items, separators=(",", ":")).encode()).hexdigest()


class Answer:
    """One request's answer: the method, and the JSON text of the SDK's `result`, exactly as it sent it."""

    __slots__ = ("method", "result")

    def __init__(self, method: str, result: str) -> None:
        self.method = method
        self.result = result

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Answer) and (self.method, self.result) == (other.method, other.result)

    __hash__ = None  # type: ignore[assignment]


def _answers(raw: object) -> dict[str, Answer] | None:
    if not isinstance(raw, dict):
        return None
    answers: dict[str, Answer] = {}
    for key, entry in raw.items():
        if not (
            isinstance(entry, dict) and isinstance(entry.get("method"), str) and isinstance(entry.get("result"), str)
        ):
            return None
        answers[key] = Answer(entry["method"], entry["result"])
    return answers


def _variables(raw: object) -> dict[str, Shown] | None:
    if not isinstance(raw, dict) or not all(shown in ("value", "presence") for shown in raw.values()):
        return None
    return {str(name): shown for name, shown in raw.items()}


class Manifest:
    """The answers usable now (none when the file was not), and what it takes to rewrite the file."""

    def __init__(self, path: str | None, code: str) -> None:
        self.path = path
        self.code = code
        self.answers: dict[str, Answer] = {}
        self.notes: list[tuple[str, str]] = []  # (level, message), logged once logging is set up
        self.dirty = False

    def learn(self, key: str, method: str, result: str) -> None:
        if self.answers.get(key) == Answer(method, result):
            return
        self.answers.pop(key, None)
        while len(self.answers) >= MAX_ANSWERS:
            self.answers.pop(next(iter(self.answers)))
        self.answers[key] = Answer(method, result)
        self.dirty = True

    def forget(self, key: str) -> None:
        if self.answers.pop(key, None) is not None:
            self.dirty = True

    def save(self, variables: Mapping[str, Shown], environ: Mapping[str, str] = os.environ) -> None:
        """Write this configuration's answers, keeping up to MAX_CONFIGS - 1 others of the same code key.

        Atomic (a temporary file, then a rename); raises OSError if the file cannot be written.
        """
        if self.path is None:
            return
        fingerprint = config_fingerprint(variables, environ)
        ours = {
            "config": fingerprint,
            "variables": dict(sorted(variables.items())),
            "answers": {key: {"method": a.method, "result": a.result} for key, a in self.answers.items()},
        }
        document, _ = _read_document(self.path)
        others: list[Any] = []
        if document is not None and document.get("code") == self.code and isinstance(document.get("configs"), list):
            others = [c for c in document["configs"] if isinstance(c, dict) and c.get("config") != fingerprint]
        configs = [ours, *others][:MAX_CONFIGS]
        text = json.dumps({"format": FORMAT, "code": self.code, "configs": configs}, separators=(",", ":"))
        _write_atomically(self.path, text)
        self.dirty = False


def _read_document(path: str) -> tuple[dict[str, Any] | None, str | None]:
    """The parsed file, or None with the reason it cannot be used (None too when it is simply missing)."""
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o022):
                return None, f"ignoring the stdio manifest {path}: not owned by this user, or writable by others"
            if info.st_size > MAX_FILE_BYTES:
                return None, f"ignoring the stdio manifest {path}: larger than {MAX_FILE_BYTES} bytes"
            document = json.loads(handle.read())
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError, RecursionError) as exc:
        return None, f"ignoring the stdio manifest {path}: {type(exc).__name__}"
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return None, f"ignoring the stdio manifest {path}: not a manifest of format {FORMAT}"
    return document, None


def load(environ: Mapping[str, str]) -> Manifest:
    """The manifest for this process: its answers if the file is current and ours, else an empty one to fill."""
    directory = cache_directory(environ)
    path = None if directory is None else manifest_path(directory)
    manifest = Manifest(path, code_key())
    if path is None:
        return manifest
    document, problem = _read_document(path)
    if problem is not None:
        level = "warning" if "owned" in problem else "info"
        manifest.notes.append((level, problem))
    if document is None:
        return manifest
    if document.get("code") != manifest.code:
        manifest.notes.append(("info", "the stdio manifest is from another version; starting the normal way"))
        return manifest
    configs = document.get("configs")
    for config in configs if isinstance(configs, list) else []:
        if not isinstance(config, dict):
            continue
        variables = _variables(config.get("variables"))
        if variables is None or config.get("config") != config_fingerprint(variables, environ):
            continue
        answers = _answers(config.get("answers"))
        if answers is not None:
            manifest.answers = answers
        return manifest
    manifest.notes.append(("info", "the stdio manifest has no answers for this configuration yet"))
    return manifest


def _write_atomically(path: str, text: str) -> None:
    """Replace `path` with `text` (a private temporary file, then a rename); raises OSError."""
    import contextlib  # only when writing, after the SDK has loaded
    import tempfile

    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".stdio-manifest-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
