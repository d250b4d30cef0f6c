"""Build the Claude Desktop extension (an MCPB bundle) of runway-mcp.

    python extension/build.py                    # build/runway-mcp-<version>.mcpb
    python extension/build.py --update-manifest  # rewrite manifest.json's tools and version from the server
    python extension/build.py --check            # exit 1 when manifest.json is stale

The bundle is a zip holding manifest.json, icon.png, server/main.py, a pyproject.toml for the package
with its dependencies, and the package's source under src/. Its server type is `uv`: the host (Claude
Desktop) installs Python and the dependencies with uv on first start, so the user needs nothing else,
and compiled dependencies (pydantic-core, psycopg's binary) come right for their platform, which a
bundle of ready-made packages could not promise.

The manifest's tool list is taken from the server itself (names, and the first paragraph of each
description), never written by hand; the build refuses a stale manifest, and so does a test.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MANIFEST = HERE / "manifest.json"
PACKAGE = ROOT / "src" / "runway_mcp"
# Bundle members outside the package: (path in the bundle, file in the repository).
FILES = (("manifest.json", MANIFEST), ("icon.png", HERE / "icon.png"), ("server/main.py", HERE / "server" / "main.py"))
# Every member gets this time stamp, so the same sources always make the same bundle.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

sys.path.insert(0, str(ROOT / "src"))  # build from this checkout, whatever is installed


def project() -> dict[str, Any]:
    table: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return table


def summary(description: str) -> str:
    """A tool description's first paragraph on one line: what the extension's page shows."""
    first = re.split(r"\n\s*\n", description.strip(), maxsplit=1)[0]
    return " ".join(first.split())


def live_tools() -> list[dict[str, str]]:
    """The tools the server lists, in its order, as the manifest's `tools` entries."""
    import anyio
    from mcp import Client

    from runway_mcp.config import Settings
    from runway_mcp.tools.server import build_server

    async def listed(data_dir: Path) -> list[dict[str, str]]:
        settings = Settings(data_dir=data_dir, schema_cache=False, log_level="WARNING")
        async with Client(build_server(settings)) as client:
            tools = (await client.list_tools()).tools
        return [{"name": tool.name, "description": summary(tool.description or "")} for tool in tools]

    with tempfile.TemporaryDirectory(prefix="runway-mcp-manifest-") as scratch:
        return anyio.run(listed, Path(scratch))


def load_manifest() -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return manifest


def stale_parts(manifest: dict[str, Any], tools: list[dict[str, str]]) -> list[str]:
    """What in the manifest no longer matches the server and the package (empty when it is current)."""
    stale = []
    if manifest.get("tools") != tools:
        stale.append("its tools differ from the server's tools/list")
    if manifest.get("version") != project()["version"]:
        stale.append(f"its version is not the package's {project()['version']}")
    return stale


def update_manifest() -> None:
    manifest = load_manifest()
    manifest["version"] = project()["version"]
    manifest["tools"] = live_tools()
    MANIFEST.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def bundle_pyproject() -> str:
    """The bundle's pyproject.toml: the package itself, with its dependencies, for uv to install.

    Installed (not merely imported from src/), the package knows its own version.
    """
    meta = project()
    lines = [
        "[build-system]",
        'requires = ["hatchling>=1.25"]',
        'build-backend = "hatchling.build"',
        "",
        "[project]",
        f"name = {json.dumps(meta['name'])}",
        f"version = {json.dumps(meta['version'])}",
        f"description = {json.dumps(meta['description'])}",
        f"requires-python = {json.dumps(meta['requires-python'])}",
        "dependencies = [",
        *(f"    {json.dumps(dependency)}," for dependency in meta["dependencies"]),
        "]",
        "",
        "[tool.hatch.build.targets.wheel]",
        'packages = ["src/runway_mcp"]',
        "",
    ]
    return "\n".join(lines)


def package_files() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")
    )


def build(out_dir: Path) -> Path:
    """Write the bundle into `out_dir` and return its path; a stale manifest is refused."""
    stale = stale_parts(load_manifest(), live_tools())
    if stale:
        raise SystemExit(
            f"extension/manifest.json is stale: {'; '.join(stale)}. Run: python extension/build.py --update-manifest"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"runway-mcp-{project()['version']}.mcpb"
    members: list[tuple[str, bytes]] = [(name, path.read_bytes()) for name, path in FILES]
    members.append(("pyproject.toml", bundle_pyproject().encode()))
    members += [(f"src/{path.relative_to(PACKAGE.parent).as_posix()}", path.read_bytes()) for path in package_files()]
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in sorted(members):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="where to write the .mcpb (default build/)")
    parser.add_argument("--check", action="store_true", help="only check that manifest.json is current")
    parser.add_argument("--update-manifest", action="store_true", help="rewrite manifest.json's tools and version")
    args = parser.parse_args(argv)
    if args.update_manifest:
        update_manifest()
        print(f"updated {MANIFEST.relative_to(ROOT)}")
        return 0
    if args.check:
        stale = stale_parts(load_manifest(), live_tools())
        for part in stale:
            print(f"extension/manifest.json is stale: {part}", file=sys.stderr)
        return 1 if stale else 0
    bundle = build(args.out)
    print(f"{bundle} ({bundle.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
