"""Settings, read once from the environment and passed down explicitly.

The API key is a `SecretStr`: its repr, str and any model dump show `**********`. The only place
that reads its value is the upstream client, when it builds the `Authorization` header.

Default locations (the ledger's file, the directories local media may be read from) are
configuration too, so they are worked out here and handed to the ledger and the media code: config
sits below them and imports neither.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Final, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

import platformdirs
from annotated_types import Ge, Gt, Le
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from runway_mcp.catalog import DEFAULT_RUNWAY_VERSION, MIN_POLL_INTERVAL_SECONDS, Provider

DEFAULT_BASE_URLS: dict[Provider, str] = {
    "cometapi": "https://api.cometapi.com",
    "runway": "https://api.dev.runwayml.com",
}
# Route prefix under the base URL, per provider: CometAPI mirrors Runway's `/v1` under `/runwayml/v1`.
API_PREFIXES: dict[Provider, str] = {"cometapi": "/runwayml/v1", "runway": "/v1"}
KEY_VARIABLES: dict[Provider, str] = {"cometapi": "COMETAPI_KEY", "runway": "RUNWAYML_API_SECRET"}
BASE_URL_VARIABLES: dict[Provider, str] = {"cometapi": "COMETAPI_BASE_URL", "runway": "RUNWAYML_BASE_URL"}
ALLOWED_DIRS_ENV: Final = "RUNWAY_MCP_ALLOWED_DIRS"
DATABASE_URL_ENV: Final = "RUNWAY_MCP_DATABASE_URL"
DATABASE_URL_SCHEMES: Final = ("postgresql", "postgres")
LEDGER_FILE_NAME: Final = "tasks.sqlite3"


# Environment variables read as they are (a list field takes comma-separated values), by Settings field.
VARIABLES: Final[dict[str, str]] = {
    "RUNWAY_VERSION": "runway_version",
    "RUNWAY_MCP_CONNECT_TIMEOUT": "connect_timeout",
    "RUNWAY_MCP_READ_TIMEOUT": "read_timeout",
    "RUNWAY_MCP_RETRY_BUDGET": "retry_budget_seconds",
    "RUNWAY_MCP_MAX_RETRIES": "max_retries",
    "RUNWAY_MCP_LOG_LEVEL": "log_level",
    "RUNWAY_MCP_DATA_DIR": "data_dir",
    "RUNWAY_MCP_OUTPUT_DIR": "output_dir",
    "RUNWAY_MCP_POLL_INTERVAL": "poll_interval_seconds",
    "RUNWAY_MCP_WAIT_DEFAULT_SECONDS": "wait_default_seconds",
    "RUNWAY_MCP_MAX_WAIT_SECONDS": "wait_max_seconds",
    "RUNWAY_MCP_MAX_DOWNLOAD_MB": "max_download_mb",
    "RUNWAY_MCP_DOWNLOAD_TIMEOUT": "download_timeout_seconds",
    "RUNWAY_MCP_LEDGER": "ledger_enabled",
    "RUNWAY_MCP_VERIFY_URLS": "verify_urls",
    "RUNWAY_MCP_MAX_TASKS_PER_DAY": "max_tasks_per_day",
    "RUNWAY_MCP_CONFIRM_SPEND": "confirm_spend",
    "RUNWAY_MCP_HOST": "http_host",
    "RUNWAY_MCP_PORT": "http_port",
    "RUNWAY_MCP_PUBLIC_URL": "public_url",
    "RUNWAY_MCP_ALLOW_UNAUTHENTICATED": "allow_unauthenticated",
    "RUNWAY_MCP_BYO_KEY": "byo_key",
    "RUNWAY_MCP_HTTP_ALLOW_LOCAL_FILES": "http_allow_local_files",
    "RUNWAY_MCP_HTTP_ALLOW_LOCAL_DOWNLOADS": "http_allow_local_downloads",
    "RUNWAY_MCP_STATELESS": "stateless_http",
    "RUNWAY_MCP_AUTH_TOKENS": "auth_tokens",
    "RUNWAY_MCP_ALLOWED_HOSTS": "allowed_hosts",
    "RUNWAY_MCP_ALLOWED_ORIGINS": "allowed_origins",
    "RUNWAY_MCP_REQUEST_STATE_KEYS": "request_state_keys",
    "RUNWAY_MCP_MAX_SESSIONS_PER_CALLER": "max_sessions_per_caller",
    "RUNWAY_MCP_MAX_STREAMS_PER_CALLER": "max_streams_per_caller",
    "RUNWAY_MCP_MAX_UNCONFIRMED_SESSIONS": "max_unconfirmed_sessions",
}
LIST_FIELDS: Final = frozenset({"auth_tokens", "allowed_hosts", "allowed_origins", "request_state_keys"})
# Fields whose value an error message never repeats.
SECRET_FIELDS: Final = frozenset({"api_key", "auth_tokens", "request_state_keys", "database_url"})
# Variables whose values are secrets: a key, a database URL (it may hold a password), bearer tokens, the keys that
# seal request state. Whatever records the configuration (the stdio manifest) records only whether they are set.
SECRET_VARIABLES: Final = frozenset(
    {*KEY_VARIABLES.values(), DATABASE_URL_ENV, "RUNWAY_MCP_AUTH_TOKENS", "RUNWAY_MCP_REQUEST_STATE_KEYS"}
)


class SettingsError(ValueError):
    """A configuration value is unusable; the message names the variable and how to fix it."""


def normalise_base_url(raw: str) -> str:
    """`https://host/`, `https://host/v1` and `https://host/runwayml/v1` all mean `https://host`.

    OpenAI-style configurations often end the base URL in `/v1`; routes are built as
    `{base}{prefix}/...`, so a suffix that duplicates the prefix is dropped.
    """
    url = raw.strip().rstrip("/")
    for suffix in ("/runwayml/v1", "/v1"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
            break
    return url.rstrip("/")


def default_allowed_roots(env_value: str | None) -> list[Path]:
    """The directories local files may come from: the os.pathsep-separated `RUNWAY_MCP_ALLOWED_DIRS`.

    `env_value` is that variable's raw value; unset or empty means the user's home directory.
    Raises ValueError for a relative entry, which would depend on the server's working directory.
    """
    roots: list[Path] = []
    for entry in (env_value or "").split(os.pathsep):
        if not entry.strip():
            continue
        root = Path(entry).expanduser()
        if not root.is_absolute():
            raise ValueError(f"{ALLOWED_DIRS_ENV} entries must be absolute paths; {entry!r} is not.")
        if root not in roots:
            roots.append(root)
    return roots or [Path.home()]


def default_ledger_path(data_dir: Path | None = None) -> Path:
    """Where the task ledger lives: `data_dir` when the caller has one, else the user's data directory."""
    base = (
        data_dir.expanduser()
        if data_dir is not None
        else Path(platformdirs.user_data_dir("runway-mcp", appauthor=False))
    )
    return base / LEDGER_FILE_NAME


class Settings(BaseModel):
    """Everything the server needs to know about its environment."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    provider: Provider = "cometapi"
    api_key: SecretStr | None = Field(default=None, description="CometAPI key (or Runway secret).")
    base_url: str = DEFAULT_BASE_URLS["cometapi"]
    runway_version: str = DEFAULT_RUNWAY_VERSION
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=60.0, gt=0)
    # Total time a read (GET) may spend retrying transient failures before giving up.
    retry_budget_seconds: float = Field(default=30.0, ge=0)
    max_retries: int = Field(default=4, ge=0)
    # First retry delay; it doubles per attempt up to 8 s, with +-25 % jitter (Runway's SDK starts at 0.5 s).
    retry_backoff_seconds: float = Field(default=0.5, ge=0)
    # A task this server created is reported as PENDING (not "not found") while younger than this.
    fresh_task_grace_seconds: float = Field(default=120.0, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    data_dir: Path | None = None
    # The tool-schema cache (see runway_mcp.tools.registry); schema_cache=False builds the schemas on every start.
    cache_dir: Path | None = None
    schema_cache: bool = True
    output_dir: Path | None = None
    # Local files as media inputs: on for stdio (the caller is the machine's owner).
    allow_local_files: bool = True
    allowed_dirs: tuple[Path, ...] = ()
    # HEAD each HTTPS media URL before creating, to catch what the upstream would refuse for free.
    verify_urls: bool = False
    # Waiting: Runway asks for no more than one poll per 5 s; lower values apply only to a loopback upstream.
    poll_interval_seconds: float = Field(default=5.0, gt=0)
    wait_default_seconds: float = Field(default=50.0, ge=0)
    wait_max_seconds: float = Field(default=300.0, ge=0)
    # Downloads of task outputs.
    allow_local_downloads: bool = True
    max_download_mb: float = Field(default=512.0, gt=0)
    download_timeout_seconds: float = Field(default=300.0, gt=0)
    # Hosts whose plain-HTTP output URLs may be downloaded (only the local sandbox needs this).
    insecure_download_hosts: tuple[str, ...] = ()
    ledger_enabled: bool = True
    # Spending controls: a daily cap on creates, and asking the user (MCP elicitation) before each one.
    max_tasks_per_day: int | None = Field(default=None, ge=0)
    confirm_spend: bool = False
    # Remote use over HTTP (`runway-mcp --transport streamable-http | sse`, or `runway_mcp.remote.app:create_app`).
    http_host: str | None = None
    http_port: int = Field(default=8000, ge=0, le=65535)
    # The URL callers reach the MCP endpoint at (behind a proxy, say); named in 401 answers.
    public_url: str | None = None
    # Shared-key mode: callers present one of these bearer tokens and the server's key pays.
    auth_tokens: tuple[SecretStr, ...] = ()
    allow_unauthenticated: bool = False
    # Bring-your-own-key mode: each caller's bearer token is their own upstream key. Each key may hold so
    # many sessions and event streams; keys the upstream could not confirm share one allowance.
    byo_key: bool = False
    max_sessions_per_caller: int = Field(default=16, ge=1)
    max_streams_per_caller: int = Field(default=16, ge=1)
    max_unconfirmed_sessions: int = Field(default=32, ge=0)
    # Host and Origin headers accepted besides loopback ones (DNS-rebinding protection).
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    # Over HTTP the caller is not the machine's owner: local files and downloads are off unless turned on.
    http_allow_local_files: bool = False
    http_allow_local_downloads: bool = False
    stateless_http: bool = False
    # Shared by every worker behind one address, so state sealed by one opens on another.
    request_state_keys: tuple[SecretStr, ...] = ()
    # The create journal in PostgreSQL, shared by every host (a postgresql:// URL; it may hold a password).
    database_url: SecretStr | None = None

    # A validator's message completes "<VARIABLE> is <value>, but it must ..." (see `explain_invalid`).
    @field_validator("base_url")
    @classmethod
    def _normalise_base_url(cls, value: str) -> str:
        url = normalise_base_url(value)
        if not url.startswith(("https://", "http://")):
            raise ValueError("start with https:// (or http:// for a local sandbox), like https://api.cometapi.com")
        return url

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith(("https://", "http://")) and urlsplit(value).hostname):
            raise ValueError("be the URL callers reach this server at, like https://mcp.example.com")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and urlsplit(value.get_secret_value()).scheme.lower() not in DATABASE_URL_SCHEMES:
            raise ValueError(
                "be a postgresql:// (or postgres://) URL, like postgresql://user:password@host:5432/dbname"
            )
        return value

    @property
    def api_prefix(self) -> str:
        return API_PREFIXES[self.provider]

    @property
    def key_variable(self) -> str:
        """The environment variable a user sets to give this provider's key."""
        return KEY_VARIABLES[self.provider]

    @property
    def base_url_variable(self) -> str:
        """The environment variable a user sets to change this provider's base URL."""
        return BASE_URL_VARIABLES[self.provider]

    def base_url_advice(self) -> str:
        """What to check when the base URL looks wrong, for error messages."""
        return f"check {self.base_url_variable} (now {self.base_url}; unset, it is {DEFAULT_BASE_URLS[self.provider]})"

    @property
    def upstream_host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    @property
    def upstream_is_loopback(self) -> bool:
        return self.upstream_host in ("127.0.0.1", "localhost", "::1")

    @property
    def effective_poll_interval(self) -> float:
        """The configured poll interval, never under Runway's 5 s against a real (non-loopback) upstream."""
        if self.upstream_is_loopback:
            return self.poll_interval_seconds
        return max(self.poll_interval_seconds, MIN_POLL_INTERVAL_SECONDS)

    @property
    def effective_insecure_download_hosts(self) -> tuple[str, ...]:
        """Hosts whose plain-HTTP outputs may be downloaded: those configured, plus a loopback upstream (the sandbox)."""
        if self.upstream_is_loopback:
            return (*self.insecure_download_hosts, self.upstream_host)
        return self.insecure_download_hosts

    def output_directory(self) -> Path:
        """Where downloads go: RUNWAY_MCP_OUTPUT_DIR, else a per-user videos directory."""
        return self.output_dir or Path(platformdirs.user_videos_dir()) / "runway-mcp"

    def ledger_path(self) -> Path | None:
        """The ledger's database file, or None when the ledger is turned off."""
        if not self.ledger_enabled:
            return None
        return default_ledger_path(self.data_dir)

    def schema_cache_dir(self) -> Path | None:
        """RUNWAY_MCP_CACHE_DIR, else <data dir>/cache when RUNWAY_MCP_DATA_DIR is set, else the user cache dir."""
        if not self.schema_cache:
            return None
        if self.cache_dir is not None:
            return self.cache_dir.expanduser()
        if self.data_dir is not None:
            return self.data_dir.expanduser() / "cache"
        return platformdirs.user_cache_path("runway-mcp", appauthor=False)

    def allowed_roots(self) -> tuple[Path, ...]:
        """Directories local media may be read from: RUNWAY_MCP_ALLOWED_DIRS, else the home directory."""
        return self.allowed_dirs or (Path.home(),)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from environment variables (documented in the README's table).

        Raises `SettingsError` naming each wrong variable, the value it has and what it must be, one line each.
        """
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        raw_provider = get("RUNWAY_MCP_PROVIDER")
        provider = (raw_provider or "cometapi").lower()
        if provider not in API_PREFIXES:
            raise SettingsError(invalid_line("RUNWAY_MCP_PROVIDER", raw_provider, requirement("provider")))
        values: dict[str, object] = {"provider": provider}
        # Where each field's value came from: (variable, its raw value), for error messages.
        sources: dict[str, tuple[str, str | None]] = {}
        key = get(KEY_VARIABLES[provider])
        if key is not None:
            values["api_key"] = SecretStr(key)
        base = get(BASE_URL_VARIABLES[provider])
        values["base_url"] = base or DEFAULT_BASE_URLS[provider]
        sources["base_url"] = (BASE_URL_VARIABLES[provider], base)
        for variable, name in VARIABLES.items():
            value = get(variable)
            if value is None:
                continue
            sources[name] = (variable, value)
            if name in LIST_FIELDS:
                values[name] = tuple(part.strip() for part in value.split(",") if part.strip())
            else:
                values[name] = value.upper() if name == "log_level" else value
        cache = get("RUNWAY_MCP_CACHE_DIR")
        if cache is not None:
            if cache.lower() in ("off", "none", "false", "0"):
                values["schema_cache"] = False
            else:
                values["cache_dir"] = cache
        database_url = get(DATABASE_URL_ENV)
        if database_url is not None:
            values["database_url"] = SecretStr(database_url)  # so a validation error shows it masked
            sources["database_url"] = (DATABASE_URL_ENV, database_url)
        allowed = get(ALLOWED_DIRS_ENV)
        if allowed is not None:
            try:
                values["allowed_dirs"] = tuple(default_allowed_roots(allowed))
            except ValueError:
                must = f"list only absolute paths, separated by {os.pathsep!r}"
                raise SettingsError(invalid_line(ALLOWED_DIRS_ENV, allowed, must)) from None
        values.update(overrides)
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(explain_invalid(exc, sources)) from None


def requirement(field: str) -> str:
    """What a setting accepts, worded to follow "it must": read from its type and bounds, so it cannot drift."""
    info = Settings.model_fields[field]
    kind = info.annotation
    if get_origin(kind) in (Union, UnionType):  # `X | None`: what matters is X
        kind = next(arg for arg in get_args(kind) if arg is not type(None))
    if get_origin(kind) is Literal:
        text = "be one of " + ", ".join(str(choice) for choice in get_args(kind))
    elif kind is bool:
        text = "be true or false (1/0, yes/no and on/off work too)"
    elif kind in (int, float):
        noun = "a whole number" if kind is int else "a number"
        low = next((m.ge for m in info.metadata if isinstance(m, Ge)), None)
        above = next((m.gt for m in info.metadata if isinstance(m, Gt)), None)
        high = next((m.le for m in info.metadata if isinstance(m, Le)), None)
        if low is not None and high is not None:
            text = f"be {noun} from {low} to {high}"
        elif above is not None:
            text = f"be {noun} greater than {above}"
        elif low is not None:
            text = f"be {noun}, {low} or more"
        else:
            text = f"be {noun}"
    else:
        text = "be a valid value"
    default = info.default
    if isinstance(default, bool):
        text += f" (default {str(default).lower()})"
    elif isinstance(default, (int, float, str)):
        text += f" (default {default:g})" if isinstance(default, float) else f" (default {default})"
    return text


def invalid_line(variable: str, raw: str | None, must: str, *, secret: bool = False) -> str:
    """One line: the variable, the value it has (never a secret one), and what it must be."""
    has = "is set to a value not shown here (it may be secret)" if secret else f"is {raw!r}"
    return f"Invalid configuration: {variable} {has}, but it must {must}."


def explain_invalid(exc: ValidationError, sources: Mapping[str, tuple[str, str | None]]) -> str:
    """A pydantic error as one line per wrong setting, in the words of `invalid_line`: no pydantic text or links."""
    lines: list[str] = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        variable, raw = sources.get(field, (field, None))
        if raw is None and field not in SECRET_FIELDS:
            raw = str(error.get("input"))
        ctx = error.get("ctx") or {}
        must = str(ctx["error"]) if error["type"] == "value_error" and "error" in ctx else requirement(field)
        line = invalid_line(variable, raw, must, secret=field in SECRET_FIELDS)
        if line not in lines:
            lines.append(line)
    return "\n".join(lines)
