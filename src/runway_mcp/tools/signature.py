"""A create tool's signature, read from the catalog: each parameter's type, schema bounds and the text a model reads.

One catalog parameter may be taken by several models of a route, with different limits. The tool
offers it once, with bounds that admit every model's values (the request is checked against the
chosen model's own limits before anything is sent) and a description that states each model's
limits, which models take it, and which require it. Nothing here names a model or a number: they
all come from the catalog.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, cast

from pydantic import Field

from runway_mcp.catalog import DEFAULT_MODELS, Endpoint, ModelSpec, Param, endpoint_params, models_for
from runway_mcp.models import MEDIA_TEXT, item_model

# A choice with more values than this is offered as a string: the values differ per model and are long.
ENUM_LIMIT: Final = 10


@dataclass(frozen=True)
class Usage:
    """One parameter name on one route: the models that take it, each with its own `Param`."""

    name: str
    takers: tuple[tuple[ModelSpec, Param], ...]
    everyone: tuple[ModelSpec, ...]

    @property
    def params(self) -> list[Param]:
        return [param for _, param in self.takers]

    @property
    def first(self) -> Param:
        return self.takers[0][1]

    @property
    def required_by_all(self) -> bool:
        return len(self.takers) == len(self.everyone) and all(p.required for p in self.params)


def usages(endpoints: Endpoint | Sequence[Endpoint]) -> list[Usage]:
    """Every parameter of the routes' models, in the order the models name them (the default model first).

    A tool serving several routes offers each parameter name once; a model on two of them (seed_audio
    speaks and makes sound effects) is one taker per route.
    """
    routes = (endpoints,) if isinstance(endpoints, Endpoint) else tuple(endpoints)
    everyone = tuple(m for endpoint in routes for m in models_for(endpoint))
    found: dict[str, list[ModelSpec]] = {}
    for endpoint in routes:
        for name, takers in endpoint_params(endpoint).items():
            found.setdefault(name, []).extend(takers)
    return [
        Usage(name, tuple((m, p) for m in takers if (p := m.param(name)) is not None), everyone)
        for name, takers in found.items()
    ]


def catalog_parameters(
    endpoints: Endpoint | Sequence[Endpoint], *, required: tuple[str, ...] = ()
) -> list[inspect.Parameter]:
    """The routes' parameters, keyword-only: the required ones first, then `model`, then the rest.

    A parameter is required when every model of the routes requires it, or when it is named in `required`.
    """
    all_usages = [u for u in usages(endpoints) if not u.first.advanced]
    needed = [u for u in all_usages if u.required_by_all or u.name in required]
    optional = [u for u in all_usages if u not in needed]
    return [
        *(_parameter(u, required=True) for u in needed),
        model_parameter(endpoints),
        *(_parameter(u, required=False) for u in optional),
        *options_parameter(endpoints),
    ]


OPTIONS: Final = "options"


def advanced_names(endpoints: Endpoint | Sequence[Endpoint]) -> list[str]:
    """The routes' fine-tuning settings, taken inside `options` (`Param.advanced`)."""
    return [u.name for u in usages(endpoints) if u.first.advanced]


def options_parameter(endpoints: Endpoint | Sequence[Endpoint]) -> list[inspect.Parameter]:
    """`options`: an object of the routes' fine-tuning settings by name, when they have any.

    The schema names them but does not type them (that would cost every conversation their full
    schemas); each value is checked against the chosen model's own rules before anything is sent.
    """
    names = advanced_names(endpoints)
    if not names:
        return []
    field = Field(description=f"Settings for some models: {', '.join(names)}. See list_models.")
    annotation = _annotated(dict[str, Any] | None, field)
    return [inspect.Parameter(OPTIONS, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)]


def model_parameter(endpoints: Endpoint | Sequence[Endpoint]) -> inspect.Parameter:
    """`model`: one of the routes' models; the route's default, or (several routes) each route's own default."""
    routes = (endpoints,) if isinstance(endpoints, Endpoint) else tuple(endpoints)
    annotation = literal(m.name for endpoint in routes for m in models_for(endpoint))  # list_models compares them
    if len(routes) == 1:
        return inspect.Parameter(
            "model", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_MODELS[routes[0]], annotation=annotation
        )
    return inspect.Parameter("model", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation | None)


def _parameter(usage: Usage, *, required: bool) -> inspect.Parameter:
    value_type, bounds = _type_and_bounds(usage)
    field = Field(description=describe(usage, required=required) or None, **bounds)
    annotation = _annotated(value_type if required else value_type | None, field)
    default = inspect.Parameter.empty if required else None
    return inspect.Parameter(usage.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _type_and_bounds(usage: Usage) -> tuple[Any, dict[str, Any]]:
    """The Python type the SDK turns into the schema, and the bounds that admit every model's values."""
    params, kind = usage.params, usage.first.kind
    if kind == "text":
        unbounded = any(p.max_utf16 is None for p in params)  # a model with no stated limit: the check is per model
        return str, {"min_length": 1, "max_length": None if unbounded else max(p.max_utf16 or 0 for p in params)}
    if kind == "integer" and all(p.choices for p in params):
        values = list(dict.fromkeys(choice for p in params for choice in p.choices))
        if len(values) <= ENUM_LIMIT:  # only these values (scale_factor 2, 4, 8 or 16), not a range
            return literal(values), {}
    if kind in ("integer", "number"):
        lows, highs = [_low(p) for p in params], [_high(p) for p in params]
        bounds = {
            "ge": None if None in lows else min(x for x in lows if x is not None),
            "le": None if None in highs else max(x for x in highs if x is not None),
        }
        return (int if kind == "integer" else float), {k: _whole(v) for k, v in bounds.items() if v is not None}
    if kind == "choice":
        choices = list(dict.fromkeys(choice for p in params for choice in p.choices))
        if len(choices) > ENUM_LIMIT:  # named per model by list_models and by the error, not in every definition
            return type(choices[0]), ({"min_length": 1} if isinstance(choices[0], str) else {})
        return literal(choices), {}
    if kind == "media":
        return str, {"min_length": 1}
    if kind == "items":
        least = min(p.min_items for p in params)
        sizes = {"max_length": max(p.max_items for p in params)} | ({"min_length": least} if least else {})
        return list[item_model(usage.first)], sizes  # type: ignore[misc]
    return bool, {}


def describe(usage: Usage, *, required: bool = False) -> str:
    """What the parameter means, limits that differ by model, and which models take (and require) it.

    Short on purpose: the model reads every tool definition on every turn. A limit all models share is
    in the schema already; list_models and the error for a wrong value give the rest.
    """
    text = next((p.about for p in usage.params if p.about), "")  # none: the name and the schema say it all
    if usage.first.kind == "media":
        text = f"{text.rstrip('.')}: {MEDIA_TEXT}"
    elif usage.first.kind == "choice" and len({c for p in usage.params for c in p.choices}) > ENUM_LIMIT:
        text += " See list_models."
    elif limits := _limits(usage):
        text += " " + limits
    everyone, takers = usage.everyone, [m for m, _ in usage.takers]
    partial = len(takers) < len(everyone) and not _whole_routes(takers, everyone)
    if len(everyone) > 1 and partial and not _names_every_taker(usage, text):
        text += f" Only {model_names(takers, everyone)}."
    needed = [m for m, p in usage.takers if p.required]
    if not required and needed and len(everyone) > 1 and len(needed) < len(takers):
        text += f" Required for {model_names(needed, everyone)}."
    return text.strip()


def _whole_routes(takers: list[ModelSpec], everyone: tuple[ModelSpec, ...]) -> bool:
    """True when the takers are every model of some of a several-route tool's routes (the tool's text says which
    input picks a route, so `Only ...` would repeat it)."""
    routes = {m.endpoint for m in takers}
    if len({m.endpoint for m in everyone}) < 2:
        return False
    return {id(m) for m in takers} == {id(m) for m in everyone if m.endpoint in routes}


def _limits(usage: Usage) -> str:
    """The limits that differ between models (`Max 1000 for gen4_aleph, aleph2; 3500 for seedance2*`)."""
    kind = usage.first.kind
    if kind == "text":
        stated = _grouped(usage, lambda p: str(p.max_utf16) if p.max_utf16 else None)
        return f"Max chars: {stated}." if stated else ""
    if kind in ("integer", "number"):
        stated = _grouped(usage, _range_text)
        return f"Allowed: {stated}." if stated else ""
    if kind == "items":
        stated = _grouped(usage, lambda p: f"{p.min_items}-{p.max_items}" if p.min_items else str(p.max_items))
        return f"Count: {stated}." if stated else ""
    return ""


def _grouped(usage: Usage, state: Callable[[Param], str | None]) -> str:
    """`state(param)` per model as `value for a, b; value for c`; empty when every model agrees (the schema says it)."""
    groups: dict[str, list[ModelSpec]] = {}
    for model, param in usage.takers:
        value = state(param)
        if value is not None:
            groups.setdefault(value, []).append(model)
    if len(groups) <= 1 and sum(len(models) for models in groups.values()) == len(usage.takers):
        return ""  # every model states the same: the schema says it
    return "; ".join(f"{value} for {model_names(models, usage.everyone)}" for value, models in groups.items())


def _names_every_taker(usage: Usage, text: str) -> bool:
    """True when the limits in `text` already name each model that takes the parameter (by name or family)."""
    named = set(re.findall(r"[\w.]+\*?", text.partition(" for ")[2] if " for " in text else ""))
    names = {m.name for m, _ in usage.takers}
    covered = {n for n in names if n in named or any(n.startswith(f.rstrip("*")) for f in named if f.endswith("*"))}
    return covered == names


def model_names(models: Iterable[ModelSpec], everyone: Iterable[ModelSpec]) -> str:
    """Model names, with a family written once: `seedance2*` when every model named seedance2, seedance2_...
    or seedance2.... is in (the shortest such name part: `magnific*`, `veo3*`)."""
    names, all_names = list(dict.fromkeys(m.name for m in models)), list(dict.fromkeys(m.name for m in everyone))
    shown: list[str] = []
    covered: set[str] = set()
    for name in names:
        if name in covered:
            continue
        family_name = _family(name, names, all_names)
        if family_name is None:
            shown.append(name)
            continue
        shown.append(family_name + "*")
        covered.update(n for n in names if _in_family(n, family_name))
    return ", ".join(shown)


def _in_family(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith((prefix + "_", prefix + "."))


def _family(name: str, names: list[str], all_names: list[str]) -> str | None:
    """The shortest leading part of `name` (ending before a `_` or `.`) whose models are 2 or more, all in `names`."""
    cuts = [i for i, ch in enumerate(name) if ch in "_."] + [len(name)]
    for cut in cuts:
        prefix = name[:cut]
        family = [n for n in all_names if _in_family(n, prefix)]
        if len(family) > 1 and all(member in names for member in family):
            return prefix
    return None


def _range_text(param: Param) -> str | None:
    if param.choices:
        values = [str(c) for c in param.choices]
        return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"
    if param.minimum is None and param.maximum is None:
        return None
    low = "any" if param.minimum is None else _whole(param.minimum)
    high = "any" if param.maximum is None else _whole(param.maximum)
    return f"{low}-{high}"


def _low(param: Param) -> float | None:
    if param.choices:
        return min(float(c) for c in param.choices)
    return param.minimum


def _high(param: Param) -> float | None:
    if param.choices:
        return max(float(c) for c in param.choices)
    return param.maximum


def _whole(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _annotated(value_type: Any, field: Any) -> Any:
    return cast(Any, Annotated)[value_type, field]  # built at run time from the catalog


def literal(values: Iterable[str | int]) -> Any:
    return Literal[tuple(dict.fromkeys(values))]  # a Literal built at run time from the catalog
