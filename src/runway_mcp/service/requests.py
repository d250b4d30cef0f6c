"""Build the upstream's request bodies from tool arguments, checking every catalog rule first.

One generic builder reads the model's parameters from the catalog: each given argument is
checked by its kind and written to its place in the camelCase body. Every problem is collected,
so one error names each bad field and how to fix it. Nothing here talks to the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from runway_mcp.catalog import (
    DEFAULT_MODELS,
    Endpoint,
    ModelSpec,
    Param,
    Provider,
    endpoint_params,
    get_model,
    models_for,
    utf16_length,
)
from runway_mcp.errors import InputError, quoted
from runway_mcp.media.inputs import MediaPolicy, MediaValue, prepare_media


@dataclass
class PreparedRequest:
    """A validated create request: the route, the camelCase body, and what the ledger records."""

    endpoint: Endpoint
    spec: ModelSpec
    body: dict[str, Any]
    prompt: str | None
    arguments: dict[str, Any] = field(default_factory=dict)
    media: list[MediaValue] = field(default_factory=list)

    @property
    def model(self) -> str:
        return self.spec.name

    @property
    def media_is_local(self) -> bool:
        """True when a field streams a local file, so the body must be sent as a stream."""
        return any(value.is_local for value in self.media)

    def close(self) -> None:
        """Release any local files opened for the body."""
        for value in self.media:
            value.close()


def resolve_model(endpoint: Endpoint, name: str | None, problems: list[str]) -> ModelSpec | None:
    spec = get_model(endpoint, name or DEFAULT_MODELS[endpoint])
    if spec is None:
        known = ", ".join(m.name for m in models_for(endpoint))
        problems.append(f"model: {quoted(name)} is not a {endpoint.value} model. Use one of: {known}.")
    return spec


def build_request(
    endpoint: Endpoint, arguments: Mapping[str, Any], policy: MediaPolicy, *, provider: Provider
) -> PreparedRequest:
    """The body for POST {endpoint}, or an `InputError` naming every problem. Nothing is sent.

    A model the configured provider does not serve is refused first, saying which provider does.
    """
    problems: list[str] = []
    given = {k: _plain(v) for k, v in arguments.items() if v is not None and k != "model"}
    spec = resolve_model(endpoint, arguments.get("model"), problems)
    if spec is None:
        raise InputError(problems)
    if provider not in spec.providers:
        problems.append(provider_refusal(spec, provider))  # first, then every other problem with the request
    unused = sorted(set(given) - {p.name for p in spec.params})
    users = endpoint_params(endpoint)
    for name in unused:
        takers = ", ".join(m.name for m in users.get(name, [])) or "none"
        problems.append(f"{name}: {spec.name} does not take this parameter (models that do: {takers}); omit it.")
    body: dict[str, Any] = {"model": spec.name}
    media: list[MediaValue] = []
    try:
        for param in spec.params:
            value = given.get(param.name)
            if value is None:
                if param.required:
                    problems.append(f"{param.name}: required for {spec.name}.{_choices_hint(param)}")
                continue
            wire_value = _check(param, value, spec, given, policy, media, problems)
            if wire_value is not None:
                _combine(body, param, wire_value)
        for path, constant in spec.constants:
            _put(body, path, constant)
        if problems:
            raise InputError(problems)
    except BaseException:
        for opened in media:
            opened.close()
        raise
    prompt = given.get("prompt_text")
    return PreparedRequest(endpoint, spec, body, prompt if isinstance(prompt, str) else None, given, media)


def provider_refusal(spec: ModelSpec, provider: Provider) -> str:
    """Why `spec` is not sent through `provider`, and what to use instead."""
    served = [m.name for m in models_for(spec.endpoint) if provider in m.providers]
    if served:
        instead = f"With {provider}, {spec.endpoint.value} offers: {', '.join(served)}."
    else:
        instead = f"{provider} does not offer the {spec.endpoint.value} route at all."
    return (
        f"model: {spec.name} on {spec.endpoint.value} needs Runway direct; nothing was sent. {instead} "
        "To use it, set RUNWAY_MCP_PROVIDER=runway with a Runway API key (RUNWAYML_API_SECRET)."
    )


def _plain(value: Any) -> Any:
    """Pydantic models (reference items) as plain dicts without unset fields."""
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_none=True)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _choices_hint(param: Param) -> str:
    if param.choices:
        return f" One of: {', '.join(str(c) for c in param.choices)}."
    return ""


def _check(
    param: Param,
    value: Any,
    spec: ModelSpec,
    given: Mapping[str, Any],
    policy: MediaPolicy,
    media: list[MediaValue],
    problems: list[str],
) -> Any:
    """The value to send for one parameter, or None after recording its problem."""
    name = param.name
    before = len(problems)
    if param.kind == "text":
        check_text(param, value, spec, problems)
    elif param.kind in ("integer", "number"):
        wanted = int if param.kind == "integer" else (int, float)
        if isinstance(value, bool) or not isinstance(value, wanted):
            problems.append(
                f"{name}: must be {'an integer' if param.kind == 'integer' else 'a number'} (got {quoted(value)})."
            )
        elif param.choices and value not in param.choices:
            problems.append(f"{name}: {spec.name} takes {_or(param.choices)} (got {quoted(value)}).")
        elif (param.minimum is not None and value < param.minimum) or (
            param.maximum is not None and value > param.maximum
        ):
            problems.append(
                f"{name}: must be from {_num(param.minimum)} to {_num(param.maximum)} for {spec.name} (got {quoted(value)})."
            )
    elif param.kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{name}: must be true or false (got {quoted(value)}).")
    elif param.kind == "choice":
        if value not in param.choices:
            problems.append(
                f"{name}: {quoted(value)} is not offered by {spec.name}. Use one of: {', '.join(map(str, param.choices))}."
            )
    elif param.kind == "media":
        kind = given.get(param.media_from) if param.media_from else param.media
        if kind not in ("image", "video"):
            return None  # the parameter naming the kind is missing or wrong: reported on its own
        prepared = prepare_media(value, kind, name, policy, problems)
        if prepared is not None:
            media.append(prepared)
            return prepared.body_value
    elif param.kind == "items":
        return _check_items(param, value, spec, policy, media, problems)
    return value if len(problems) == before else None


def check_text(param: Param, value: Any, spec: ModelSpec, problems: list[str]) -> None:
    name = param.name
    if not isinstance(value, str):
        problems.append(f"{name}: must be text (got {type(value).__name__}).")
        return
    if not value.strip():
        problems.append(f"{name}: is blank; describe what you want in words.")
    if "\x00" in value:
        problems.append(f"{name}: contains a NUL character; remove it.")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        problems.append(f"{name}: contains an unpaired UTF-16 surrogate; send valid Unicode text.")
    limit = param.max_utf16
    if limit is not None and (length := utf16_length(value)) > limit:
        problems.append(
            f"{name}: {length} characters as the upstream counts them (UTF-16 code units; an emoji counts 2), "
            f"over the limit of {limit} for {spec.name}. Shorten it by at least {length - limit}."
        )


def _check_items(
    param: Param,
    value: Any,
    spec: ModelSpec,
    policy: MediaPolicy,
    media: list[MediaValue],
    problems: list[str],
) -> list[dict[str, Any]] | None:
    name = param.name
    if not isinstance(value, list):
        problems.append(f"{name}: must be a list.")
        return None
    if len(value) > param.max_items:
        problems.append(
            f"{name}: {spec.name} takes at most {param.max_items} (got {len(value)}). Keep the most important ones."
        )
    if len(value) < param.min_items:
        problems.append(
            f"{name}: {spec.name} needs at least {param.min_items} (got {len(value)}); the provider rejects an "
            "empty list."
        )
    items: list[dict[str, Any]] = []
    for index, raw in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("uri"), str):
            problems.append(f'{where}: must be an object with a "uri".')
            continue
        item: dict[str, Any] = {"type": param.item_type} if param.item_type else {}
        assert param.media is not None
        prepared = prepare_media(raw["uri"], param.media, f"{where}.uri", policy, problems)
        if prepared is not None:
            media.append(prepared)
            item["uri"] = prepared.body_value
        extras = {k: raw[k] for k in param.item_keys if raw.get(k) is not None}
        if param.item_keys == ("seconds", "at") and len(extras) != 1:
            problems.append(
                f"{where}: give exactly one of seconds (from the start) or at (a fraction 0..1 of the clip)."
            )
        if "at" in extras and not 0 <= extras["at"] <= 1:
            problems.append(f"{where}.at: must be a fraction from 0 to 1.")
        if "seconds" in extras and extras["seconds"] < 0:
            problems.append(f"{where}.seconds: must not be negative.")
        items.append({**item, **extras})
    return items


def _combine(body: dict[str, Any], param: Param, value: Any) -> None:
    """Write a value at its wire path; a last frame joins the first as a list of positioned frames."""
    if param.name == "last_frame_image":
        first = body.get("promptImage")
        body["promptImage"] = [{"uri": first, "position": "first"}, {"uri": value, "position": "last"}]
        return
    _put(body, param.wire, value)


def _put(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    target = body
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value


def _or(values: tuple[str | int, ...]) -> str:
    return " or ".join(str(v) for v in values)


def _num(value: float | None) -> str:
    return "any" if value is None else f"{value:g}"
