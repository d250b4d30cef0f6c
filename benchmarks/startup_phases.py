"""Where runway-mcp's start-up goes, phase by phase, in a fresh interpreter; prints one JSON object.

Run by the cold-start benchmark as `python benchmarks/startup_phases.py` with the server's
environment. Phases: importing the SDK, importing our server on top of it, reading settings,
building the server (tool schemas), and entering its lifespan (ledger and HTTP clients), with the
lifespan's parts timed again on their own.
"""

from __future__ import annotations

import json
import time
from typing import Any


def main() -> None:
    phases: dict[str, float] = {}
    start = time.perf_counter()
    from mcp.server import MCPServer  # noqa: F401 - the import is what is measured

    phases["import_mcp"] = time.perf_counter() - start
    mark = time.perf_counter()
    from runway_mcp.config import Settings
    from runway_mcp.tools.server import build_server

    phases["import_runway_mcp"] = time.perf_counter() - mark
    mark = time.perf_counter()
    settings = Settings.from_env()
    phases["settings_from_env"] = time.perf_counter() - mark
    mark = time.perf_counter()
    server = build_server(settings)
    phases["build_server"] = time.perf_counter() - mark

    import anyio
    import httpx

    from runway_mcp.store.ledger import Ledger

    async def lifespan() -> dict[str, float]:
        timed: dict[str, float] = {}
        mark = time.perf_counter()
        lifespan = server.settings.lifespan
        if lifespan is not None:
            async with lifespan(server):
                timed["lifespan_enter"] = time.perf_counter() - mark
        mark = time.perf_counter()
        async with httpx.AsyncClient():
            timed["one_httpx_client"] = time.perf_counter() - mark
        mark = time.perf_counter()
        ledger = await Ledger.open(settings.ledger_path())
        timed["ledger_open"] = time.perf_counter() - mark
        await ledger.aclose()
        return timed

    phases.update(anyio.run(lifespan))
    result: dict[str, Any] = {name: round(seconds, 6) for name, seconds in phases.items()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
