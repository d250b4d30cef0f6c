"""The Claude Desktop extension (extension/): its manifest says what the server really is, and the bundle runs.

The bundle test builds the .mcpb with the repository's script, unpacks it, starts the server exactly as the
manifest's `mcp_config` says (user_config values substituted, as Claude Desktop does) and drives
create -> wait -> download over stdio against the sandbox. uv (the bundle's runtime) installs the
dependencies from PyPI on first start, as it does for a user.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import struct
import sys
import tomllib
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from runway_mcp.sandbox import Sandbox, SandboxServer, asset_bytes
from tests.support import CANARY_KEY, REPO, VIDEO, create_wait_download

EXTENSION = REPO / "extension"
MANIFEST = EXTENSION / "manifest.json"
PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


def build_module() -> ModuleType:
    """extension/build.py, the script that builds the bundle (it is not part of the package)."""
    spec = importlib.util.spec_from_file_location("runway_mcp_extension_build", EXTENSION / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return data


def substitute(value: str, variables: dict[str, str]) -> str:
    """`${name}` replaced the way the host does it; an unknown name fails the test."""

    def replace(match: re.Match[str]) -> str:
        assert match.group(1) in variables, f"the manifest uses ${{{match.group(1)}}}, which nothing provides"
        return variables[match.group(1)]

    return PLACEHOLDER.sub(replace, value)


# The manifest -------------------------------------------------------------------------------------------


def test_the_manifest_lists_the_tools_the_server_lists_now() -> None:
    build = build_module()
    stale = build.stale_parts(manifest(), build.live_tools())
    assert stale == [], f"extension/manifest.json: {stale}. Run: python extension/build.py --update-manifest"


def test_the_manifest_asks_for_the_key_provider_and_output_folder() -> None:
    data = manifest()
    config = data["user_config"]
    assert config["api_key"]["sensitive"] is True and config["api_key"]["required"] is True
    assert "default" not in config["api_key"]
    assert config["output_dir"]["type"] == "directory"
    from runway_mcp.config import API_PREFIXES, Settings

    assert config["provider"]["default"] in API_PREFIXES
    assert str(config["provider"]["default"]) == Settings().provider
    env = data["server"]["mcp_config"]["env"]
    used = {name for value in env.values() for name in PLACEHOLDER.findall(value)}
    assert used == {f"user_config.{key}" for key in config}, (
        "every user_config value reaches the server, and only those"
    )
    # Each variable the manifest sets is one the server reads.
    config_source = (REPO / "src" / "runway_mcp" / "config.py").read_text(encoding="utf-8")
    for variable in env:
        assert f'"{variable}"' in config_source, f"{variable} is not read by runway_mcp.config"


def test_the_manifest_runs_the_bundled_entry_point_with_uv() -> None:
    data = manifest()
    server = data["server"]
    assert server["type"] == "uv" and data["manifest_version"] == "0.4"
    assert (EXTENSION / server["entry_point"]).is_file()
    assert server["mcp_config"]["command"] == "uv"
    assert server["entry_point"] in server["mcp_config"]["args"]
    requires = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    assert data["compatibility"]["runtimes"]["python"] == requires


def test_the_icon_is_a_512_pixel_png() -> None:
    icon = (EXTENSION / manifest()["icon"]).read_bytes()
    assert icon[:8] == b"\x89PNG\r\n\x1a\n" and icon[12:16] == b"IHDR"
    assert struct.unpack(">II", icon[16:24]) == (512, 512)


# The bundle ---------------------------------------------------------------------------------------------


def uv_path() -> str:
    """The uv that Claude Desktop would run: here, the one installed with the test dependencies."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("uv", path=path)
    if found is None:
        pytest.fail("uv is not installed: pip install -e '.[test]' installs it")
    return path


@pytest.mark.slow
def test_the_built_bundle_runs_as_its_manifest_says(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    bundle = build_module().build(tmp_path / "build")
    unpacked = tmp_path / "installed extension"  # a space, as in "Application Support"
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        archive.extractall(unpacked)
    assert {"manifest.json", "icon.png", "pyproject.toml", "server/main.py", "src/runway_mcp/cli.py"} <= names
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)

    bundled = json.loads((unpacked / "manifest.json").read_text(encoding="utf-8"))
    assert bundled == manifest()
    user_config = {"api_key": CANARY_KEY, "provider": "cometapi", "output_dir": str(tmp_path / "Runway videos")}
    variables = {"__dirname": str(unpacked), **{f"user_config.{k}": v for k, v in user_config.items()}}
    config = bundled["server"]["mcp_config"]
    # This machine's environment (its network settings reach PyPI), none of our variables, uv on the PATH;
    # then the manifest's own variables, and what points this server at the sandbox.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWAY", "COMETAPI"))}
    env |= {"PATH": uv_path(), "UV_PYTHON_DOWNLOADS": "never"}
    env |= {name: substitute(value, variables) for name, value in config.get("env", {}).items()}
    env |= {
        "COMETAPI_BASE_URL": sandbox_server.url,
        "RUNWAY_MCP_DATA_DIR": str(tmp_path / "data"),
        "RUNWAY_MCP_POLL_INTERVAL": "0.2",
    }
    parameters = StdioServerParameters(
        command=substitute(config["command"], variables),
        args=[substitute(arg, variables) for arg in config["args"]],
        env=env,
        cwd=tmp_path,
    )
    saved = anyio.run(drive_bundle, parameters, bundled["tools"])
    assert Path(saved["path"]).parent == Path(user_config["output_dir"])
    assert (
        hashlib.sha256(Path(saved["path"]).read_bytes()).hexdigest()
        == hashlib.sha256(asset_bytes("output.mp4")).hexdigest()
    )
    assert len(sandbox.api_requests(method="POST")) == 1


async def drive_bundle(parameters: StdioServerParameters, manifest_tools: list[dict[str, str]]) -> dict[str, Any]:
    """tools/list, then create -> wait -> download; returns the saved file's entry."""
    with anyio.fail_after(240):  # the first start installs the dependencies
        async with Client(parameters) as client:
            listed = (await client.list_tools()).tools
            summary = build_module().summary
            assert [{"name": t.name, "description": summary(t.description or "")} for t in listed] == manifest_tools
            return await create_wait_download(client, {"video_uri": VIDEO, "prompt_text": "Snow"})
