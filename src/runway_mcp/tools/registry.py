"""Tool registration with a schema cache, so a start does not rebuild every tool's schemas.

The SDK builds each tool's argument model and its input and output JSON schemas when the tool is
added: for our twelve tools about 60 ms, most of what a cold start costs beyond importing the SDK.
Those schemas change only when our code, the SDK, pydantic or Python change, so they are kept in a
small JSON file keyed by a fingerprint of all four (file sizes and modification times, as Python's
own bytecode cache does). A start with a matching file registers each tool with its cached schemas
and builds the tool's argument model on its first call instead; any other start builds every tool
as the SDK always does and rewrites the file. Before a cached entry is served, everything in it is
checked against what the tool's code declares (`runway_mcp.tools.schema_check`, cheap: no schema is
built), so an edited file is not served; on its first call a cached tool also checks that the schemas
it just built are the ones it published, and drops the file if they are not.

The cache holds no secrets and nothing from the user: only the tools' schemas.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import os
import stat
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mcp.server.mcpserver.tools import Tool
from mcp.types import ToolAnnotations
from pydantic import ConfigDict, PrivateAttr

from runway_mcp.tools.arguments import CheckedTool
from runway_mcp.tools.schema import compact_schema
from runway_mcp.tools.schema_check import declared_values, schema_mismatch

if TYPE_CHECKING:
    from mcp.server.context import LifespanContextT, RequestT
    from mcp.server.mcpserver.context import Context

__all__ = ["ToolRegistry", "ToolSpec", "schema_fingerprint"]

logger = logging.getLogger("runway_mcp.tools.registry")

CACHE_FORMAT = 1
# Twelve tools' schemas take about 150 KB; a file far beyond that is not ours.
MAX_CACHE_BYTES = 8 * 1024 * 1024
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
PACKAGE_DIR = Path(__file__).resolve().parent.parent
_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ToolSpec:
    """What `MCPServer.tool(...)` would be given for one tool."""

    fn: Callable[..., Any]
    title: str
    annotations: ToolAnnotations
    description: str | None = None
    # A paid tool refuses an argument it does not know (tools/arguments.py), and its schema says so.
    refuses_unknown: bool = False

    @property
    def name(self) -> str:
        return self.fn.__name__

    def build(self) -> CheckedTool:
        """The tool as the SDK builds it (argument model, input and output schemas), checked and compact."""
        description = self.description or inspect.cleandoc(self.fn.__doc__ or "")  # no indentation in the bytes
        tool = CheckedTool.from_function(
            self.fn, name=self.name, title=self.title, description=description, annotations=self.annotations
        )
        assert isinstance(tool, CheckedTool)  # from_function builds `cls`
        tool.parameters = compact_schema(tool.parameters, closed=self.refuses_unknown)
        tool.refuses_unknown = self.refuses_unknown
        return tool


class CachedTool(Tool):
    """A tool listed from cached schemas; the SDK's full `Tool` is built on its first call and then runs it.

    Only what the server reads outside `run` (name, title, description, schemas, annotations) is
    filled in; `fn_metadata`, `context_kwarg` and `resolved_params` belong to the built tool, which
    `run` delegates to. The whole test suite serves its tools this way (see tests/conftest.py).
    """

    model_config = ConfigDict(defer_build=True)

    spec: ToolSpec
    cached_output_schema: dict[str, Any] | None = None
    cache_file: Path | None = None
    _built: Tool | None = PrivateAttr(default=None)

    @classmethod
    def of(cls, spec: ToolSpec, entry: dict[str, Any], cache_file: Path | None) -> CachedTool:
        # `model_construct` skips validation (every field is already of its type) and builds nothing;
        # `fn_metadata` stays unset, as only `run` (which delegates to the built tool) would read it.
        return cls.model_construct(  # type: ignore[call-arg]  # fn_metadata is left unset on purpose
            fn=spec.fn,
            name=spec.name,
            title=spec.title,
            description=spec.description or inspect.cleandoc(spec.fn.__doc__ or ""),
            parameters=entry["inputSchema"],
            is_async=inspect.iscoroutinefunction(spec.fn),
            context_kwarg=None,
            resolved_params={},
            resolver_plans={},
            annotations=spec.annotations,
            icons=None,
            meta=None,
            spec=spec,
            cached_output_schema=entry["outputSchema"],
            cache_file=cache_file,
        )

    @cached_property
    def output_schema(self) -> dict[str, Any] | None:
        return self.cached_output_schema

    def built(self) -> Tool:
        if self._built is None:
            tool = self.spec.build()
            if tool.parameters != self.parameters or tool.output_schema != self.cached_output_schema:
                # Only possible if the fingerprint missed a change. Calls validate with the fresh model; from
                # now on this server also lists the fresh schemas, and the next start rebuilds the file.
                logger.warning("cached schemas of tool %s are out of date; dropping the schema cache", self.name)
                if self.cache_file is not None:
                    self.cache_file.unlink(missing_ok=True)
                self.parameters = tool.parameters
                self.cached_output_schema = tool.output_schema
                self.__dict__.pop("output_schema", None)  # the cached_property's stale value
            self._built = tool
        return self._built

    async def run(
        self,
        arguments: dict[str, Any],
        context: Context[LifespanContextT, RequestT],
        convert_result: bool = False,
    ) -> Any:
        return await self.built().run(arguments, context, convert_result=convert_result)


def _stamp(path: str | os.PathLike[str]) -> str:
    try:
        stat = os.stat(path)
    except OSError:
        return f"{path}:missing"
    return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"


def schema_fingerprint(package: Path = PACKAGE_DIR) -> str | None:
    """Changes whenever our modules, the SDK's tool code, pydantic or Python change; None if it cannot tell.

    Files are stamped by size and modification time (as Python's own bytecode cache is), with the
    versions of this package, pydantic and pydantic-core on top for installs whose times are fixed.
    """
    import mcp.server.mcpserver.resolve as sdk_resolve
    import mcp.server.mcpserver.tools.base as sdk_tools
    import mcp.server.mcpserver.utilities.context_injection as sdk_context
    import mcp.server.mcpserver.utilities.func_metadata as sdk_metadata
    import pydantic
    import pydantic_core
    from pydantic.version import VERSION as PYDANTIC_VERSION

    from runway_mcp import __version__

    sources = sorted(package.rglob("*.py"))
    if not sources:  # running from a zip or from bytecode only: no way to tell an edit, so no cache
        return None
    parts = [str(CACHE_FORMAT), sys.version, __version__, PYDANTIC_VERSION, pydantic_core.__version__]
    parts += [_stamp(path) for path in sources]
    parts += [_stamp(module.__file__ or "") for module in (sdk_tools, sdk_metadata, sdk_resolve, sdk_context)]
    parts.append(_stamp(Path(pydantic.__file__).with_name("json_schema.py")))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def cache_file_in(directory: Path) -> Path:
    """One file per copy of the package and environment, so two virtualenvs do not keep rewriting each other's."""
    install = hashlib.sha256(f"{PACKAGE_DIR}\n{sys.prefix}".encode()).hexdigest()[:12]
    return directory / f"tool-schemas-{install}.json"


def _read(path: Path, fingerprint: str) -> dict[str, dict[str, Any]]:
    """The cached entries, or {} for a file that is missing, unreadable, stale, malformed or not safely ours.

    The schemas reach the model as tool descriptions, so a file another user could have written is
    not trusted: it must be a regular file belonging to this user and writable by no one else (where
    the OS says so). That is checked before opening (a FIFO planted there would block the open), and
    again on what was opened, which is opened without blocking and without following a symlink.
    """
    document = _load(path)
    if not isinstance(document, dict) or document.get("fingerprint") != fingerprint:
        return {}
    tools = document.get("tools")
    if not isinstance(tools, dict):
        return {}
    return {
        name: entry
        for name, entry in tools.items()
        if isinstance(entry, dict)
        and isinstance(entry.get("inputSchema"), dict)
        and "outputSchema" in entry
        and isinstance(entry["outputSchema"], dict | None)
    }


def _load(path: Path) -> object:
    """The JSON document in the cache file, or None when it is not a file of ours that can be read."""
    try:
        before = os.lstat(path)
        if not _safely_ours(path, before):
            return None
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            opened = os.fstat(handle.fileno())
            if (opened.st_dev, opened.st_ino) != (before.st_dev, before.st_ino) or not _safely_ours(path, opened):
                return None
            if opened.st_size > MAX_CACHE_BYTES:
                return None
            return json.loads(handle.read(MAX_CACHE_BYTES))
    except (OSError, ValueError, RecursionError):
        return None


def _safely_ours(path: Path, info: os.stat_result) -> bool:
    if not stat.S_ISREG(info.st_mode):
        logger.warning("ignoring the tool schema cache %s: not a regular file", path)
        return False
    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o022):
        logger.warning("ignoring the tool schema cache %s: not owned by this user, or writable by others", path)
        return False
    return True


def _write(path: Path, fingerprint: str, tools: dict[str, dict[str, Any]]) -> None:
    """Replace the file atomically; a failure only costs the next start its speed."""
    document = json.dumps({"format": CACHE_FORMAT, "fingerprint": fingerprint, "tools": tools}, separators=(",", ":"))
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tool-schemas-", suffix=".tmp")
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(document)
        os.replace(temporary, path)
    except OSError as exc:
        logger.info("could not write the tool schema cache: %s", type(exc).__name__)
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _differs_from_code(spec: ToolSpec, entry: dict[str, Any]) -> bool:
    """Whether a cached entry holds anything the tool's code does not declare (an edited or foreign file)."""
    try:
        declared = declared_values(spec.fn)
    except (RecursionError, TypeError, NameError) as exc:  # types it cannot walk: build the tool instead
        logger.info("cannot check the cached schemas of tool %s (%s); building it", spec.name, type(exc).__name__)
        return True
    problem = schema_mismatch(entry["inputSchema"], declared) or schema_mismatch(entry["outputSchema"], declared)
    if problem is not None:
        logger.warning("cached schemas of tool %s do not match its code (%s); building it afresh", spec.name, problem)
    return problem is not None


class ToolRegistry:
    """Collects the tools (with the same decorator shape as `MCPServer.tool`) and builds them for the server."""

    def __init__(self) -> None:
        self.specs: list[ToolSpec] = []

    def tool(self, *, title: str, annotations: ToolAnnotations, description: str | None = None) -> Callable[[_F], _F]:
        def register(fn: _F) -> _F:
            self.add(ToolSpec(fn=fn, title=title, annotations=annotations, description=description))
            return fn

        return register

    def add(self, spec: ToolSpec) -> None:
        """Add a tool built elsewhere (the create tools are made from the catalog)."""
        self.specs.append(spec)

    def build(self, cache_dir: Path | None) -> list[Tool]:
        """The tools, from the schema cache in `cache_dir` where it is current (None: no cache)."""
        if cache_dir is None:
            return [spec.build() for spec in self.specs]
        fingerprint = schema_fingerprint()
        if fingerprint is None:
            return [spec.build() for spec in self.specs]
        path = cache_file_in(cache_dir)
        cached = _read(path, fingerprint)
        tools: list[Tool] = []
        fresh: dict[str, dict[str, Any]] = {}
        for spec in self.specs:
            entry = cached.get(spec.name)
            if entry is not None and _differs_from_code(spec, entry):
                entry = None
            if entry is not None:
                tools.append(CachedTool.of(spec, entry, path))
                fresh[spec.name] = entry
                continue
            tool = spec.build()
            tools.append(tool)
            fresh[spec.name] = {"inputSchema": tool.parameters, "outputSchema": tool.output_schema}
        if fresh != cached:
            _write(path, fingerprint, fresh)
        return tools
