"""Hostile input, property-based: every call ends in a success or a clear tool error, invalid input never
reaches the upstream, and what does reach it is exactly what was asked for.

Strategies are read from each tool's published input schema (so new tools and parameters are fuzzed without
edits here) and mixed with explicit nasty values: lone surrogates, NULs, bidi controls, megabyte strings,
numbers at and past every bound, wrong types, extra fields, nested junk, malformed data URIs and URLs.
Each test function keeps one server and one client (JSON-RPC over memory streams, as a real client speaks)
for all its examples. Examples are drawn by `@given` before the async body runs, not with `st.data()` inside
it: hypothesis ends an over-long draw with a BaseException, which would stop anyio's test runner for good.

What the fuzzing found is pinned by the explicit tests at the end, so it stays found.
"""

from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import functools
import ipaddress
import math
import re
import tempfile
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.types import CallToolResult
from pydantic import TypeAdapter

from runway_mcp.config import Settings
from runway_mcp.sandbox import Sandbox, SandboxServer, asset_bytes
from runway_mcp.tools.server import build_server
from tests.support import (
    CREATE_ARGUMENTS,
    INSTANT_TASKS,
    MAX_RETRIES,
    assert_clear_error,
    assert_clear_outcome,
    make_settings,
    minimal_arguments,
    result_text,
)

pytestmark = pytest.mark.anyio

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
SEED_MAX = 4_294_967_295
GEN4_ALEPH_RATIOS = ("1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672", "848:480", "640:480")
VIDEO_TYPES = ("video/mp4", "video/quicktime", "video/webm")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
CONTROL_ARGUMENTS = {"wait_seconds", "idempotency_key", "dry_run"}
LOCAL_VALIDATION = ("validation error for", "Invalid input, nothing was sent")
MP4_HEAD = asset_bytes("sample_input.mp4")[:300]
PNG = asset_bytes("sample.png")


# Nasty values


MEGABYTE = 1024 * 1024
NASTY_STRINGS = [
    "",
    " ",
    "\t\n\r",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\ud83d",
    "\u202eevil\u202c",
    "\u200f\u200e\u061c",
    "\ufeff",
    "e\u0301" * 5,
    "🎬" * 501,  # 1002 UTF-16 units in 501 characters
    "${jndi:ldap://127.0.0.1/a}",
    "'; DROP TABLE tasks; --",
    "%s%n%x%p",
    "{{7*7}}<script>alert(1)</script>",
    "../../../../etc/passwd",
    "\\\\server\\share",
    "null",
    "NaN",
    "inf",
    "-inf",
    "1e309",
    "0x10",
    "４２",
    "a" * 1001,
    "a" * 100_000,
    "z" * (3 * MEGABYTE),
]
NASTY_NUMBERS: list[Any] = [
    0,
    -1,
    1,
    SEED_MAX,
    SEED_MAX + 1,
    2**63,
    -(2**63),
    10**40,
    0.5,
    -0.0,
    1e308,
    5e-324,
    3600,
    3600.001,
    600.5,
    201,
    "5",
    "NaN",
    "inf",
    "-inf",
    "1e309",
    True,
    False,
]
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)
SURROGATE_TEXT = st.text(st.characters(codec=None, exclude_categories=[]), max_size=40)
NASTY = (
    st.sampled_from(NASTY_STRINGS)
    | st.sampled_from(NASTY_NUMBERS)
    | JUNK
    | SURROGATE_TEXT
    | st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "So"]), max_size=30)
)


# Media references


DOMAINS = ["example.com", "cdn.example.co.uk", "a-b.example", "xn--bcher-kva.example", "例え.jp", "EXAMPLE.COM", "x.y"]
IP_HOSTS = [
    "127.0.0.1",
    "127.1",
    "0x7f.1",
    "0x7f000001",
    "2130706433",
    "0177.0.0.1",
    "169.254.169.254",
    "10.0.0.1.",
    "0",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[0:0:0:0:0:0:0:1]",
    "[fe80::1%25eth0]",
    "①②⑦.0.0.1",
]
USERINFO = ["", "user@", "user:secret@", "a@b@", "example.com@", "127.0.0.1@"]
PORTS = ["", ":443", ":8443", ":0", ":65535"]
PATHS = ["/clip.mp4", "/a.png", "/", "", "/x?y=1#z", "/%2e%2e/%00", "/sandbox:fail=INTERNAL", "/" + "p" * 2100]


@st.composite
def https_urls(draw: st.DrawFn) -> str:
    host = draw(st.sampled_from(DOMAINS) | st.sampled_from(IP_HOSTS))
    scheme = draw(st.sampled_from(["https://", "HTTPS://", "http://", "ftp://", "https:/", "//"]))
    return scheme + draw(st.sampled_from(USERINFO)) + host + draw(st.sampled_from(PORTS)) + draw(st.sampled_from(PATHS))


@st.composite
def data_uris(draw: st.DrawFn, kind: str = "video") -> str:
    good = VIDEO_TYPES if kind == "video" else IMAGE_TYPES
    mime = draw(st.sampled_from([*good, "VIDEO/MP4", "image/gif", "video/x-matroska", "", "text/html", "video/mp4 "]))
    params = draw(st.sampled_from([";base64", ";BASE64", ";charset=utf-8;base64", "", ";base64;x=y", ";base6"]))
    content = draw(st.sampled_from([MP4_HEAD, PNG, b"\x00", b""]) | st.binary(max_size=64))
    payload = base64.b64encode(content).decode()
    payload = draw(
        st.sampled_from(
            [
                payload,
                payload.rstrip("="),
                payload + "=",
                payload.replace("+", "-").replace("/", "_"),
                payload[:-1],
                f" {payload}",
                payload[:4] + "\n" + payload[4:],
                "%" + payload,
                "",
            ]
        )
    )
    return f"data:{mime}{params}{draw(st.sampled_from([',', ';', '']))}{payload}"


def media_strategy(kind: str) -> st.SearchStrategy[str]:
    return https_urls() | data_uris(kind) | st.sampled_from(NASTY_STRINGS[:12]) | st.text(max_size=30)


# An independent reading of the documented rules (the reference, not the server's code)


def data_uri_verdict(value: str, kind: str) -> bool | None:
    """True when the data URI is valid by the documented rules (media type, base64, within the limit)."""
    match = re.fullmatch(r"data:([^;,]*)((?:;[^;,]*)*),(.*)", value, re.DOTALL)
    if match is None or match[2].lower().rsplit(";", 1)[-1] != "base64":
        return False
    mime = match[1].lower()
    if mime.strip() not in (VIDEO_TYPES if kind == "video" else IMAGE_TYPES):
        return False
    payload = match[3]
    if not payload or len(payload) % 4 or not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", payload):
        return False
    if not base64.b64decode(payload, validate=True):
        return False
    return True if mime == mime.strip() else None


def url_host_is_an_ip(value: str) -> bool:
    """The host as a resolver would read it: dotted, shorthand, hex and octal IPv4, and IPv6."""
    rest = value.split("://", 1)[-1]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host = authority.rsplit("@", 1)[-1]
    host = (
        host[1:].split("]", 1)[0] if host.startswith("[") else host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    )
    host = unicodedata.normalize("NFKC", host).rstrip(".").split("%", 1)[0]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.split(".")
        return bool(labels) and all(re.fullmatch(r"0x[0-9a-f]*|[0-9]+", part, re.I) for part in labels)
    return True


def https_verdict(value: str) -> bool | None:
    """False when it must be refused; True when plainly valid; None when the rules leave room."""
    if value[:8].lower() != "https://" or url_host_is_an_ip(value) or len(value) > 2048:
        return False
    authority = re.split(r"[/?#]", value[8:], maxsplit=1)[0].rsplit("@", 1)[-1]
    host, _, port = authority.partition(":")
    if "." not in host.strip("."):
        return False
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        return False  # port 0 or out of range: nothing can be fetched there
    return True if host.isascii() and "@" not in value[8:] else None


def media_verdict(value: str, kind: str) -> bool | None:
    if value[:5].lower() == "data:":
        return data_uri_verdict(value, kind)
    if value[:8].lower() == "https://":
        return https_verdict(value)
    return False  # another scheme, a relative path, or a local path (the allowed directory is empty)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def prompt_verdict(value: Any) -> bool | None:
    if not isinstance(value, str) or not value or utf16_units(value) > 1000:
        return False
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        return False
    if not value.strip() or "\x00" in value:
        return None  # refusing these is allowed, sending them too
    return True


def seed_verdict(value: Any) -> bool | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return None if value.strip().isdigit() else False
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            return False
        return None if 0 <= value <= SEED_MAX else False
    return isinstance(value, int) and 0 <= value <= SEED_MAX


# The server under test


@functools.cache
def published_schemas() -> dict[str, dict[str, Any]]:
    """Each tool's input schema as the server publishes it (read once, on the first draw, from a throwaway server)."""

    async def read() -> dict[str, dict[str, Any]]:
        with tempfile.TemporaryDirectory() as tmp:
            settings = make_settings("http://127.0.0.1:9", Path(tmp), log_level="WARNING")
            async with Client(build_server(settings)) as client:
                return {tool.name: tool.input_schema for tool in (await client.list_tools()).tools}

    # On a thread of its own: hypothesis may draw while this thread's event loop is running.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, read).result()


@pytest.fixture
def fuzz_settings(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    sandbox.config = dataclasses.replace(sandbox.config, **INSTANT_TASKS)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # a fuzzed "~/..." stays in here
    (tmp_path / "media").mkdir()
    return make_settings(
        sandbox_server.url,
        tmp_path,
        wait_max_seconds=0.3,
        # Tasks are visible at once here, so no grace is needed; with one, a cancel of an id the ledger
        # thinks is fresh waits out the service's 20 s patience for a task not visible yet.
        fresh_task_grace_seconds=0.0,
        poll_interval_seconds=0.05,
        max_retries=MAX_RETRIES,
        retry_backoff_seconds=0.01,
        log_level="WARNING",
    )


@pytest.fixture
async def fuzz_client(fuzz_settings: Settings) -> AsyncIterator[Client]:
    async with Client(build_server(fuzz_settings), mode="legacy") as connected:
        yield connected


@pytest.fixture
async def tools(fuzz_client: Client) -> dict[str, Any]:
    return {tool.name: tool for tool in (await fuzz_client.list_tools()).tools}


@pytest.fixture
async def real_task(fuzz_client: Client) -> str:
    made = await fuzz_client.call_tool("create_video_to_video", CREATE_ARGUMENTS["create_video_to_video"])
    assert made.structured_content is not None
    task_id: str = made.structured_content["task_id"]
    return task_id


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    with anyio.fail_after(30):
        return await client.call_tool(tool, arguments)


def local_refusal(result: CallToolResult) -> bool:
    return result.is_error and any(marker in result_text(result) for marker in LOCAL_VALIDATION)


def leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item)]
    return [value]


def as_validated(value: Any, prop: dict[str, Any]) -> Any:
    """A scalar that passed validation, as the (lax) validator turned it into, for comparison with the body."""
    types = {p.get("type") for p in prop.get("anyOf", [prop])}
    if "integer" in types and isinstance(value, bool | str | float):
        return int(float(value))
    if "number" in types and isinstance(value, str):
        return float(value)
    if "boolean" in types and not isinstance(value, bool):
        return TypeAdapter(bool).validate_python(value)
    return value


def expected_leaves(value: Any, prop: dict[str, Any], defs: dict[str, Any]) -> list[Any]:
    """The scalars of an accepted argument that the body must carry, walking the schema (extra keys are dropped)."""
    if "$ref" in prop:
        return expected_leaves(value, defs[prop["$ref"].rsplit("/", 1)[-1]], defs)
    options = prop.get("anyOf", [prop])
    if isinstance(value, dict):
        shape = next((o for o in options if "properties" in o or "$ref" in o), None)
        if shape is None:
            return []
        if "$ref" in shape:
            shape = defs[shape["$ref"].rsplit("/", 1)[-1]]
        known = shape["properties"]
        return [leaf for k, v in value.items() if k in known for leaf in expected_leaves(v, known[k], defs)]
    if isinstance(value, list):
        items = next((o.get("items", {}) for o in options if o.get("type") == "array"), {})
        return [leaf for v in value for leaf in expected_leaves(v, items, defs)]
    if value is None or (isinstance(value, str) and value.startswith(("/", "~", "file:"))):
        return []  # omitted, or a local file, which travels as a data URI
    return [as_validated(value, prop)]


def assert_body_carries(arguments: dict[str, Any], schema: dict[str, Any], body: dict[str, Any]) -> None:
    """Every value the caller gave (bar the server's own controls) is in the body the upstream received."""
    sent = leaves(body)
    defs = schema.get("$defs", {})
    for name, value in arguments.items():
        prop = schema["properties"].get(name)
        if prop is None or name in CONTROL_ARGUMENTS:
            continue
        for leaf in expected_leaves(value, prop, defs):
            assert leaf in sent, f"{name}: {leaf!r} is not in the body the upstream received: {body}"


# Every tool, every parameter


@st.composite
def from_schema(draw: st.DrawFn, prop: dict[str, Any], defs: dict[str, Any], name: str = "") -> Any:
    """A value for one schema node: usually valid for it, sometimes nasty."""
    if "$ref" in prop:
        return draw(from_schema(defs[prop["$ref"].rsplit("/", 1)[-1]], defs, name))
    if draw(st.integers(0, 9)) == 0:
        return draw(NASTY)
    if "enum" in prop:
        return draw(st.sampled_from(prop["enum"]))
    if "const" in prop:
        return prop["const"]
    if "anyOf" in prop:
        return draw(st.one_of([from_schema(option, defs, name) for option in prop["anyOf"]]))
    kind = prop.get("type")
    if kind == "string":
        if name.endswith(("uri", "image")):
            return draw(media_strategy("image" if "image" in name or name == "uri" else "video"))
        if "pattern" in prop:
            return draw(
                st.from_regex(prop["pattern"], fullmatch=True).filter(lambda s: len(s) <= prop.get("maxLength", 99))
            )
        return draw(st.text(min_size=prop.get("minLength", 0), max_size=min(prop.get("maxLength", 60), 60)))
    if kind == "integer":
        return draw(st.integers(prop.get("minimum"), prop.get("maximum")) | st.sampled_from(NASTY_NUMBERS[:12]))
    if kind == "number":
        low, high = prop.get("minimum", prop.get("exclusiveMinimum")), prop.get("maximum")
        return draw(st.floats(low, high, allow_nan=False, allow_infinity=False) | st.sampled_from(NASTY_NUMBERS))
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "array":
        item = from_schema(prop.get("items", {}), defs, name)
        return draw(st.lists(item, min_size=prop.get("minItems", 0), max_size=min(prop.get("maxItems", 3), 4) + 1))
    if kind == "object" or "properties" in prop:
        return draw(arguments_for(prop, defs))
    return draw(JUNK)


@st.composite
def arguments_for(draw: st.DrawFn, schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    required = set(schema.get("required", []))
    values: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        # Required ones are nearly always there, optional ones often left out.
        if draw(st.integers(0, 19)) < (19 if name in required else 8):
            values[name] = draw(from_schema(prop, defs, name))
    if draw(st.integers(0, 9)) == 0:
        values[draw(st.text(min_size=1, max_size=12))] = draw(JUNK)
    return values


def safe_download_directory(arguments: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Keep a fuzzed download inside the test's directory: only a relative or junk directory is left as drawn."""
    directory = arguments.get("directory")
    if isinstance(directory, str) and directory.startswith(("/", "~")):
        arguments["directory"] = str(tmp_path / "downloads" / directory.lstrip("/~").replace("\x00", ""))[:4000]
    return arguments


@st.composite
def tool_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    schemas = published_schemas()
    name = draw(st.sampled_from(sorted(schemas)))
    return name, draw(arguments_for(schemas[name], schemas[name].get("$defs", {})))


@FUZZ
@given(tool_call=tool_calls(), use_real_task=st.booleans())
async def test_every_tool_survives_hostile_arguments(
    fuzz_client: Client,
    sandbox: Sandbox,
    tools: dict[str, Any],
    real_task: str,
    tmp_path: Path,
    tool_call: tuple[str, dict[str, Any]],
    use_real_task: bool,
) -> None:
    name, arguments = tool_call
    arguments = dict(arguments)
    schema = tools[name].input_schema
    if "task_id" in arguments and use_real_task:
        arguments["task_id"] = real_task
    if name == "download_task_output":
        arguments = safe_download_directory(arguments, tmp_path)
    mark = len(sandbox.requests)
    result = await call(fuzz_client, name, arguments)
    if result.is_error:
        assert_clear_error(result, name)
    seen = sandbox.api_requests()[mark:]
    posts = [r for r in seen if r.method == "POST"]
    text = result_text(result)
    if result.is_error and "validation error for" in text:
        assert seen == [], f"refused by the schema, yet {len(seen)} request(s) reached the upstream"
    if local_refusal(result):
        changing = [r for r in seen if r.method in ("POST", "DELETE")]
        assert changing == [], "refused as invalid, yet a create or delete reached the upstream"
    assert len(posts) <= 1, "one call created more than one task"
    if posts and posts[0].json is not None:
        assert_body_carries(arguments, schema, posts[0].json)
    if arguments.get("dry_run") is True:
        assert posts == []
    assert not (await call(fuzz_client, "list_tasks", {"limit": 1})).is_error, "the server stopped serving"


# The flagship create, against the documented rules


@st.composite
def video_to_video_arguments(draw: st.DrawFn) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "video_uri": draw(media_strategy("video")),
        "prompt_text": draw(st.text(min_size=1, max_size=40) | st.sampled_from(NASTY_STRINGS) | SURROGATE_TEXT),
    }
    if draw(st.booleans()):
        arguments["seed"] = draw(st.integers(0, SEED_MAX) | st.sampled_from(NASTY_NUMBERS))
    if draw(st.booleans()):
        arguments["ratio"] = draw(st.sampled_from([*GEN4_ALEPH_RATIOS, "16:9", "1280x720", ""]))
    if draw(st.booleans()):
        uris = st.lists(media_strategy("image"), min_size=0, max_size=2)
        arguments["references"] = [{"type": "image", "uri": u} for u in draw(uris)]
    if draw(st.booleans()):
        arguments["public_figure_threshold"] = draw(st.sampled_from(["auto", "low", "high", "AUTO", ""]))
    return arguments


def video_to_video_verdict(arguments: dict[str, Any]) -> bool | None:
    """False: must be refused before sending. True: valid by every documented rule. None: either is fine."""
    verdicts = [
        media_verdict(arguments["video_uri"], "video"),
        prompt_verdict(arguments["prompt_text"]),
        seed_verdict(arguments["seed"]) if "seed" in arguments else True,
        arguments.get("ratio", GEN4_ALEPH_RATIOS[0]) in GEN4_ALEPH_RATIOS,
        arguments.get("public_figure_threshold", "auto") in ("auto", "low"),
        len(arguments.get("references", [])) <= 1,
        *(media_verdict(r["uri"], "image") for r in arguments.get("references", [])),
    ]
    if False in verdicts:
        return False
    return None if None in verdicts else True


def expected_body(arguments: dict[str, Any]) -> dict[str, Any]:
    """The body the reference documents for these (valid) arguments."""
    body: dict[str, Any] = {
        "videoUri": arguments["video_uri"],
        "promptText": arguments["prompt_text"],
        "model": "gen4_aleph",
    }
    if "seed" in arguments:
        body["seed"] = arguments["seed"]
    if "references" in arguments:
        body["references"] = [{"type": "image", "uri": r["uri"]} for r in arguments["references"]]
    if "ratio" in arguments:
        body["ratio"] = arguments["ratio"]
    if "public_figure_threshold" in arguments:
        body["contentModeration"] = {"publicFigureThreshold": arguments["public_figure_threshold"]}
    return body


@FUZZ
@given(arguments=video_to_video_arguments())
async def test_create_video_to_video_sends_exactly_the_valid_input_and_nothing_else(
    fuzz_client: Client, sandbox: Sandbox, tools: dict[str, Any], arguments: dict[str, Any]
) -> None:
    verdict = video_to_video_verdict(arguments)
    mark = len(sandbox.requests)
    result = await call(fuzz_client, "create_video_to_video", arguments)
    succeeded = assert_clear_outcome(result, "create_video_to_video")
    posts = sandbox.api_requests()[mark:]
    if verdict is False:
        assert not succeeded and posts == [], f"invalid input reached the upstream: {result_text(result)[:300]}"
    if verdict is True:
        assert succeeded, f"valid input was refused: {result_text(result)[:500]}"
    if posts:
        (post,) = posts
        assert post.method == "POST" and post.path.endswith("/video_to_video")
        if verdict is True:
            assert post.json == expected_body(arguments)
        else:
            assert_body_carries(arguments, tools["create_video_to_video"].input_schema, post.json)
    assert len(sandbox.task_ids()) <= len(sandbox.api_requests(method="POST"))


# Numbers at and beyond every bound, from every schema


def numeric_properties(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, prop in schema.get("properties", {}).items():
        for option in prop.get("anyOf", [prop]):
            if option.get("type") in ("integer", "number"):
                found.append((name, option))
    return found


def probes(prop: dict[str, Any]) -> list[tuple[Any, bool | None]]:
    """(value, within the schema?) at and past each bound; None where a lax validator may go either way."""
    low = prop.get("minimum", prop.get("exclusiveMinimum"))
    high = prop.get("maximum", prop.get("exclusiveMaximum"))
    integer = prop["type"] == "integer"
    values: list[tuple[Any, bool | None]] = [("NaN", False), ("inf", False), ("-inf", False), ("1e309", False)]
    values += [(None, None), ([], False), ({}, False), ("", False), ("seven", False)]
    if low is not None:
        values += [(low, "exclusiveMinimum" not in prop), (low - 1, False), (low - 0.5, False)]
    if high is not None:
        values += [(high, "exclusiveMaximum" not in prop), (high + 1, False), (high + 0.5, False)]
        values += [(2**64, False), (1e300, False)]
    if integer and low is not None:
        values += [(low + 0.5, False), (str(low), None), (float(low), None), (True, None)]
    return values


async def test_every_numeric_parameter_at_and_beyond_its_bounds(
    fuzz_client: Client, sandbox: Sandbox, tools: dict[str, Any], real_task: str
) -> None:
    probed = 0
    for name, tool in sorted(tools.items()):
        schema = tool.input_schema
        base = dict(CREATE_ARGUMENTS.get(name, {}))
        if "task_id" in schema.get("properties", {}):
            base["task_id"] = real_task
        if "dry_run" in schema.get("properties", {}):
            base["dry_run"] = True  # the bounds are checked the same; nothing is spent
        base.update({k: v for k, v in {"endpoint": "video_to_video"}.items() if k in schema.get("required", [])})
        if name == "download_task_output":
            continue  # no numbers; and it writes files
        for field, prop in numeric_properties(schema):
            for value, within in probes(prop):
                mark = len(sandbox.requests)
                result = await call(fuzz_client, name, {**base, field: value})
                assert_clear_outcome(result, name)
                text = result_text(result)
                schema_refusal = result.is_error and "validation error for" in text and f"\n{field}" in text
                if within is False:
                    assert result.is_error, f"{name}.{field}={value!r} was accepted"
                    assert field in text, f"{name}.{field}={value!r}: the error does not name the field: {text[:300]}"
                    assert [r for r in sandbox.api_requests()[mark:] if r.method == "POST"] == []
                if within is True:
                    assert not schema_refusal, (
                        f"{name}.{field}={value!r} is within the schema but refused: {text[:300]}"
                    )
                probed += 1
    assert probed > 50, f"only {probed} probes: the schemas lost their numbers?"


# Explicit cases for what the fuzzing found (issue 8); each failed before its fix


@pytest.mark.parametrize(
    "url",
    [
        *(f"https://{host}/clip.mp4" for host in IP_HOSTS),
        "https://user:pw@127.0.0.1/clip.mp4",
        "https://example.com@10.0.0.1:443/clip.mp4",
        "https://example.com\\@127.0.0.1/clip.mp4",
        "https://１２７.０.０.１/clip.mp4",  # fullwidth digits: an IP once IDNA-normalised
        "https://127.0.0.1\\@example.com/clip.mp4",  # a WHATWG parser reads host 127.0.0.1 here
        "https://exa mple.com/clip.mp4",
        "https://example.com:99999/clip.mp4",
        "https://example.com:-1/clip.mp4",
    ],
)
async def test_urls_the_upstream_must_refuse_are_refused_before_sending(
    fuzz_client: Client, sandbox: Sandbox, url: str
) -> None:
    result = await call(fuzz_client, "create_video_to_video", {"video_uri": url, "prompt_text": "x"})
    assert "video_uri" in assert_clear_error(result, "create_video_to_video")
    assert sandbox.requests == []


async def test_a_nul_in_the_download_directory_is_a_clear_error(
    fuzz_client: Client, real_task: str, tmp_path: Path
) -> None:
    result = await call(fuzz_client, "download_task_output", {"task_id": real_task, "directory": f"{tmp_path}/a\x00b"})
    assert "directory" in assert_clear_error(result, "download_task_output")


async def test_megabyte_strings_in_every_free_text_parameter_get_short_answers(
    fuzz_client: Client, sandbox: Sandbox, tools: dict[str, Any], real_task: str
) -> None:
    huge = "z" * (3 * MEGABYTE)
    mark = len(sandbox.requests)
    offenders = []
    for name, tool in sorted(tools.items()):
        schema = tool.input_schema
        base = {**CREATE_ARGUMENTS.get(name, {}), **minimal_arguments(schema)}
        if "task_id" in schema["properties"]:
            base["task_id"] = real_task
        if "dry_run" in schema["properties"]:
            base["dry_run"] = True
        for field, prop in schema["properties"].items():
            options = prop.get("anyOf", [prop])
            free = [
                o
                for o in options
                if o.get("type") == "string" and not {"maxLength", "enum", "pattern", "const"} & set(o)
            ]
            if not free or field == "directory":
                continue
            for value in (huge, "/" + huge, "https://" + huge, "data:" + huge + ";base64,AAAA"):
                result = await call(fuzz_client, name, {**base, field: value})
                size = len(result_text(result))
                if size >= 8000:
                    offenders.append(f"{name}.{field}={value[:10]}...: {size} characters")
                else:
                    assert_clear_outcome(result, name)
    assert not offenders, "answers that repeat megabytes of input:\n" + "\n".join(offenders)
    assert [r for r in sandbox.api_requests()[mark:] if r.method == "POST"] == []


async def test_a_task_this_server_deleted_is_not_reported_as_pending(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    sandbox.config = dataclasses.replace(sandbox.config, **INSTANT_TASKS)
    settings = make_settings(sandbox_server.url, tmp_path, log_level="WARNING")  # the default 120 s grace
    async with Client(build_server(settings)) as client:
        made = await call(client, "create_video_to_video", CREATE_ARGUMENTS["create_video_to_video"])
        assert made.structured_content is not None
        task_id = made.structured_content["task_id"]
        deleted = await call(client, "cancel_task", {"task_id": task_id})
        assert deleted.structured_content is not None and deleted.structured_content["outcome"] == "deleted"
        after = await call(client, "get_task", {"task_id": task_id})
        assert after.is_error or (after.structured_content or {}).get("status") != "PENDING", result_text(after)
