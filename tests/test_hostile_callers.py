"""Hostile callers over HTTP on 127.0.0.1: junk keys, floods, odd bytes, and what a 401 points to.

Each test reproduces one finding of a hostile review (issue 17) through a real uvicorn and real clients:
bring-your-own-key mode locked by junk keys (a flood bounded in count and time), one caller taking every
session, a lone surrogate that got no answer, and protected-resource metadata naming an authorization
server that does not exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from runway_mcp.sandbox import Sandbox, SandboxServer
from tests.support import HttpServer, make_settings, mcp_http_client

pytestmark = pytest.mark.anyio

TOKEN = "tok-Vb8qK2xLm4Zp7Rt9Ws3Nd6"


def token_settings(sandbox_server: SandboxServer, tmp_path: Path, **overrides: Any) -> Any:
    values: dict[str, Any] = {"auth_tokens": (SecretStr(TOKEN),), "log_level": "INFO"}
    return make_settings(sandbox_server.url, tmp_path, **{**values, **overrides})


# What a 401 points to -------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
@pytest.mark.parametrize("mode", ["shared-token", "byo-key"])
async def test_the_resource_metadata_advertises_only_what_exists(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path, transport: str, mode: str
) -> None:
    overrides: dict[str, Any] = {"auth_tokens": (), "byo_key": True} if mode == "byo-key" else {}
    with HttpServer(token_settings(sandbox_server, tmp_path, **overrides), transport) as server:
        async with mcp_http_client(None) as http:
            challenge = (await http.get(server.endpoint)).headers["www-authenticate"]
            metadata_url = challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]
            metadata = (await http.get(metadata_url)).json()
            assert metadata["resource"] == server.endpoint
            assert metadata["bearer_methods_supported"] == ["header"]
            # An OAuth client goes to each authorization server named here to log in: each must be one.
            for issuer in metadata.get("authorization_servers", []):
                found = await http.get(issuer.rstrip("/") + "/.well-known/oauth-authorization-server")
                assert found.status_code == 200, f"{issuer} is advertised as an authorization server but is not one"
