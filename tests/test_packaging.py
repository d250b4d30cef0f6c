"""What a user or a registry sees before running any tool: server.json, the README, the CLI, the examples.

Each check reads the real files and the real code, so documentation that drifts from the code fails
here: a new environment variable in config.py must reach the README's table and server.json, a
version bump must reach server.json, and the README's test command must stay the one CI runs.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from runway_mcp.cli import build_parser
from runway_mcp.config import Settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SERVER_JSON = ROOT / "server.json"
PYPROJECT = ROOT / "pyproject.toml"
CI_SCRIPT = ROOT / ".ci" / "run"
CONFIG_MODULE = ROOT / "src" / "runway_mcp" / "config.py"
PACKAGE_DIR = ROOT / "src" / "runway_mcp"
EXAMPLE_SCRIPT = ROOT / "examples" / "drive_with_mcp_client.py"

DISTRIBUTION = "cometapi-runway-mcp"
SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
ENV_NAME = re.compile(r"^(COMETAPI|RUNWAY|RUNWAYML)_[A-Z_]+$")
TABLE_ROW = re.compile(r"^\|\s*`(?P<name>[A-Z][A-Z0-9_]*)`\s*\|\s*(?P<default>[^|]*?)\s*\|", re.MULTILINE)
# Enough of a real environment for a child Python; the rest of os.environ (a real key above all) stays out.
CHILD_ENV_KEEP = ("PATH", "HOME", "SYSTEMROOT", "TMPDIR", "TEMP", "TMP", "LANG", "LC_ALL")


# Helpers --------------------------------------------------------------------------------------------


def string_literals(path: Path) -> set[str]:
    return {
        node.value
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def env_vars_read_by_config() -> set[str]:
    """Every string literal in config.py that is shaped like one of our environment variable names."""
    return {value for value in string_literals(CONFIG_MODULE) if ENV_NAME.fullmatch(value)}


def env_vars_named_in_package() -> set[str]:
    return {value for path in PACKAGE_DIR.rglob("*.py") for value in string_literals(path) if ENV_NAME.fullmatch(value)}


def readme_section(title: str) -> str:
    """The text of the README's `## title` section, up to the next `## ` heading."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\s*$(?P<body>.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"README.md has no '## {title}' section"
    return match.group("body")


def configuration_table() -> dict[str, str]:
    """Variable name -> the Default cell, from the README's Configuration table."""
    return {m.group("name"): m.group("default") for m in TABLE_ROW.finditer(readme_section("Configuration"))}


def server_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SERVER_JSON.read_text(encoding="utf-8"))
    return data


def only_package(data: dict[str, Any]) -> dict[str, Any]:
    packages = data["packages"]
    assert len(packages) == 1, "server.json should describe exactly one package"
    package: dict[str, Any] = packages[0]
    return package


def server_json_env(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in only_package(data).get("environmentVariables", [])}


def pyproject_version() -> str:
    version: str = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"]
    return version


def installed_version() -> str:
    return importlib.metadata.version(DISTRIBUTION)


def child_env(**extra: str) -> dict[str, str]:
    env = {name: os.environ[name] for name in CHILD_ENV_KEEP if name in os.environ}
    env.update(extra)
    return env


def readme_test_command() -> str:
    """The pytest command from the quick start's `... && .venv/bin/python -m pytest -q` line."""
    commands = [
        part.strip()
        for line in readme_section("Quick start").splitlines()
        if "pytest" in line and "&&" in line
        for part in line.split("&&")
        if "pytest" in part
    ]
    assert len(commands) == 1, f"expected one test command in the README's quick start, found {commands}"
    return commands[0]


def ci_test_command() -> str:
    """The one line of .ci/run that runs pytest."""
    commands = [
        line.strip()
        for line in CI_SCRIPT.read_text(encoding="utf-8").splitlines()
        if "-m pytest" in line and not line.lstrip().startswith("#")
    ]
    assert len(commands) == 1, f"expected one pytest line in .ci/run, found {commands}"
    return commands[0]


# server.json ----------------------------------------------------------------------------------------


def test_server_json_has_the_registry_fields() -> None:
    data = server_json()
    assert data["$schema"] == SCHEMA_URL
    for field in ("name", "description", "version", "title", "repository", "packages"):
        assert data.get(field), f"server.json lacks {field}"
    assert data["name"] == "io.github.cometapi/runway-mcp"
    assert re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", data["name"])
    assert 1 <= len(data["description"]) <= 100, f"description is {len(data['description'])} characters"
    assert 1 <= len(data["title"]) <= 100
    assert data["repository"]["source"] == "github"
    assert data["repository"]["url"].startswith("https://github.com/")


def test_server_json_package_is_the_pypi_distribution_over_stdio() -> None:
    package = only_package(server_json())
    assert package["registryType"] == "pypi"
    assert package["identifier"] == DISTRIBUTION
    assert package["runtimeHint"] == "uvx"
    assert package["transport"] == {"type": "stdio"}


def test_every_version_matches_pyproject_and_the_installed_package() -> None:
    data = server_json()
    expected = pyproject_version()
    assert installed_version() == expected, "the installed package is stale: pip install -e . again"
    assert data["version"] == expected
    assert only_package(data)["version"] == expected


def test_the_api_key_is_required_and_secret() -> None:
    env = server_json_env(server_json())
    assert env["COMETAPI_KEY"]["isRequired"] is True
    assert env["COMETAPI_KEY"]["isSecret"] is True
    assert "default" not in env["COMETAPI_KEY"]
    assert env["RUNWAYML_API_SECRET"]["isSecret"] is True
    others = [name for name, entry in env.items() if entry.get("isRequired") and name != "COMETAPI_KEY"]
    assert others == [], f"only COMETAPI_KEY should be required, also required: {others}"


def test_server_json_environment_entries_are_well_formed() -> None:
    for name, entry in server_json_env(server_json()).items():
        assert entry.get("description"), f"{name} has no description"
        assert entry.get("format", "string") in ("string", "number", "boolean", "filepath"), name
        if "default" in entry:
            assert isinstance(entry["default"], str), f"{name}: defaults are strings in server.json"
        if "choices" in entry and "default" in entry:
            assert entry["default"] in entry["choices"], name


# Environment variables: code, README and server.json agree -------------------------------------------


def test_config_reads_the_variables_we_expect_to_find() -> None:
    # Guards the parsing itself: if config.py stopped naming variables as literals, every check below would pass.
    found = env_vars_read_by_config()
    assert {"COMETAPI_KEY", "COMETAPI_BASE_URL", "RUNWAY_MCP_PROVIDER"} <= found
    assert len(found) >= 10


def test_readme_table_lists_every_variable_the_code_reads() -> None:
    missing = env_vars_read_by_config() - set(configuration_table())
    assert not missing, f"README's Configuration table lacks: {sorted(missing)}"


def test_readme_table_lists_only_variables_the_code_knows() -> None:
    unknown = set(configuration_table()) - env_vars_named_in_package()
    assert not unknown, f"README's Configuration table documents variables the code never names: {sorted(unknown)}"


def test_server_json_lists_every_variable_the_code_reads() -> None:
    documented = set(server_json_env(server_json()))
    missing = env_vars_read_by_config() - documented
    assert not missing, f"server.json's environmentVariables lacks: {sorted(missing)}"
    unknown = documented - env_vars_named_in_package()
    assert not unknown, f"server.json lists variables the code never names: {sorted(unknown)}"


def test_server_json_defaults_are_the_real_defaults() -> None:
    """Setting a variable to its documented default must change nothing."""
    baseline = Settings.from_env({})
    for name, entry in server_json_env(server_json()).items():
        if "default" in entry:
            assert Settings.from_env({name: entry["default"]}) == baseline, f"{name}={entry['default']!r}"


def test_readme_defaults_are_the_real_defaults() -> None:
    baseline = Settings.from_env({})
    literal = re.compile(r"^`([^`]+)`$")
    checked = 0
    for name, default in configuration_table().items():
        match = literal.match(default)
        if match:
            checked += 1
            assert Settings.from_env({name: match.group(1)}) == baseline, f"README default of {name}: {default}"
    assert checked >= 10


# README ---------------------------------------------------------------------------------------------


def test_readme_has_the_registry_ownership_line() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert f"mcp-name: {server_json()['name']}" in [line.strip() for line in lines]


def test_readme_warns_about_the_unrelated_pypi_project() -> None:
    text = README.read_text(encoding="utf-8")
    assert "cometapi-runway-mcp" in text
    assert "unrelated" in text.lower()


def test_readme_test_command_is_the_one_ci_runs() -> None:
    assert readme_test_command() == ci_test_command()
    assert shlex.split(ci_test_command())[1:4] == ["-m", "pytest", "-q"]


def test_ci_script_is_strict_and_executable() -> None:
    text = CI_SCRIPT.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text
    if os.name == "posix":
        assert os.access(CI_SCRIPT, os.X_OK), ".ci/run is not executable (git update-index --chmod=+x .ci/run)"


# The command line -------------------------------------------------------------------------------------


def run_module(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runway_mcp", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(**env),
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_version_prints_only_the_version_on_stdout() -> None:
    result = run_module("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"runway-mcp {installed_version()}\n"
    assert "Traceback" not in result.stderr


def test_help_exits_zero_and_names_the_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    width = "100"
    monkeypatch.setenv("COLUMNS", width)
    result = run_module("--help", COLUMNS=width)
    assert result.returncode == 0, result.stderr
    assert "sandbox" in result.stdout
    assert "demo" in result.stdout
    # Nothing but the help text: no banner, no log line, no warning on stdout.
    assert result.stdout == build_parser().format_help()


# Examples -------------------------------------------------------------------------------------------


def test_claude_desktop_example_is_a_valid_uvx_config() -> None:
    config = json.loads((ROOT / "examples" / "claude_desktop_config.json").read_text(encoding="utf-8"))
    server = config["mcpServers"]["runway"]
    assert server["command"] == "uvx"
    assert server["args"] == [DISTRIBUTION]
    assert set(server["env"]) == {"COMETAPI_KEY"}


@pytest.mark.slow
def test_example_script_drives_the_server_over_stdio() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "create_video_to_video" in result.stdout
    assert re.search(r"^output: http://127\.0\.0\.1:\d+/", result.stdout, re.MULTILINE), result.stdout


def test_readme_model_table_matches_the_catalog() -> None:
    from runway_mcp.catalog import MODELS

    section = (ROOT / "README.md").read_text(encoding="utf-8").split("### Models", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    names = [row.split("`")[1] for row in rows]
    assert names == [model.name for model in MODELS], "README's model table differs from the catalog"
    for row, model in zip(rows, MODELS, strict=True):
        assert f"`{model.endpoint.value}`" in row and ", ".join(model.providers) in row, row
        assert model.summary in row, row


# The wheel ------------------------------------------------------------------------------------------------


def test_the_wheel_ships_every_data_file_the_package_reads(tmp_path: Path) -> None:
    """Files read at run time (the player's page, the sandbox's media) reach users only if the wheel has them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMETAPI", "RUNWAY"))}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path), str(ROOT)],
        check=True,
        timeout=300,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name: archive.getinfo(name).file_size for name in archive.namelist()}
    data = [
        path
        for path in PACKAGE_DIR.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    ]
    expected = {f"runway_mcp/{path.relative_to(PACKAGE_DIR).as_posix()}": path.stat().st_size for path in data}
    assert "runway_mcp/tools/player.html" in expected
    assert {name: shipped.get(name) for name in expected} == expected
