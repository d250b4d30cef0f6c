"""Entry point of the Claude Desktop extension: the `runway-mcp` command, from the package bundled beside it.

The host runs it with uv (see the manifest's `server`), which installs the bundle's pyproject.toml: the
package under `src/` with its dependencies. `src/` goes on the path too, so the bundled copy is the one
that runs even where only the dependencies were installed.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from runway_mcp.cli import main  # importable once src/ is on the path

main()
