"""Checking cached tool schemas against what the code declares, without building the schemas.

The schema cache (`runway_mcp.tools.registry`) is a file, and a file can be edited: its fingerprint,
kept in the file itself, says only that the code has not changed. What reaches a model from a tool's
schemas is words (descriptions, titles, property names, enum values) and numbers (limits, defaults).
Every one of them comes from the code: a parameter's name, default or `Field(...)`, a model's fields
and docstring, a `Literal`'s values, an annotated constraint. `declared_values` gathers them for one
tool by walking its signature and the types it names (about a millisecond for every tool; building the
schemas takes fifty), and `schema_mismatch` says whether a cached schema holds anything else: a cached
schema is served only when every key and every value in it is something the code declares (or a word
of JSON Schema itself). So text the code never wrote cannot reach a model through the cache.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, Final

from pydantic import BaseModel
from pydantic.fields import FieldInfo

__all__ = ["declared_values", "schema_mismatch"]

# JSON Schema's own keywords, as pydantic writes them; a key outside these (and outside "properties"
# and "$defs", whose keys are names) is not something the code produced.
SCHEMA_KEYWORDS: Final = frozenset(
    {
        "$defs", "$ref", "additionalProperties", "allOf", "anyOf", "const", "contentEncoding",
        "contentMediaType", "default", "deprecated", "description", "discriminator", "enum", "examples",
        "exclusiveMaximum", "exclusiveMinimum", "format", "items", "mapping", "maxItems", "maxLength",
        "maxProperties", "maximum", "minItems", "minLength", "minProperties", "minimum", "multipleOf",
        "not", "oneOf", "pattern", "prefixItems", "propertyName", "propertyNames", "properties",
        "readOnly", "required", "title", "type", "uniqueItems", "writeOnly",
    }
)  # fmt: skip
# Words JSON Schema itself puts in values: types and the formats pydantic emits.
SCHEMA_WORDS: Final = frozenset(
    {
        "array", "boolean", "integer", "null", "number", "object", "string",
        "binary", "date", "date-time", "duration", "email", "ipv4", "ipv6", "json-string", "path",
        "time", "uri", "uuid", "uuid1", "uuid3", "uuid4", "uuid5",
    }
)  # fmt: skip
_NAMED_MAPS: Final = frozenset({"properties", "$defs", "mapping"})
_REF_PREFIX: Final = "#/$defs/"
_MAX_DEPTH: Final = 64
_MAX_NAME: Final = 100
_SDK_PACKAGES: Final = frozenset({"mcp", "mcp_types"})


def declared_values(fn: Callable[..., Any]) -> frozenset[object]:
    """Every name, text and value the code declares for the tool `fn`: what its schemas may contain."""
    found: set[object] = {f"{fn.__name__}Arguments", f"{fn.__name__}Output", f"{fn.__name__}DictOutput", "result"}
    seen: set[object] = set()
    signature = inspect.signature(fn, eval_str=True)
    for name, parameter in signature.parameters.items():
        found.add(name)
        if parameter.default is not inspect.Parameter.empty:
            _add_value(parameter.default, found)
        _walk_type(parameter.annotation, found, seen)
    _walk_type(signature.return_annotation, found, seen)
    return frozenset(_with_titles(found))


def _with_titles(found: set[object]) -> set[object]:
    """The values, plus the titles pydantic makes from names ("task_id" -> "Task Id")."""
    names = [value for value in found if isinstance(value, str) and len(value) <= _MAX_NAME and " " not in value]
    found.update([name.title().replace("_", " ").strip() for name in names])
    return found


def schema_mismatch(schema: object, declared: frozenset[object]) -> str | None:
    """Where `schema` holds a key or value the code did not declare (a short description), or None."""
    return _mismatch(schema, declared, "", 0)


def _mismatch(node: object, declared: frozenset[object], path: str, depth: int) -> str | None:
    if depth > _MAX_DEPTH:
        return f"{path}: nested too deeply"
    if isinstance(node, dict):
        return _dict_mismatch(node, declared, path, depth)
    if isinstance(node, list):
        for index, item in enumerate(node):
            problem = _mismatch(item, declared, f"{path}[{index}]", depth + 1)
            if problem is not None:
                return problem
        return None
    if node is None or isinstance(node, bool):
        return None
    if isinstance(node, str):
        known = node in declared or node in SCHEMA_WORDS
        known = known or (node.startswith(_REF_PREFIX) and node[len(_REF_PREFIX) :] in declared)
        return None if known else f"{path}: a text the code does not declare"
    if isinstance(node, int | float):
        return None if node in declared else f"{path}: a number the code does not declare"
    return f"{path}: a value of type {type(node).__name__}"


def _dict_mismatch(node: dict[Any, Any], declared: frozenset[object], path: str, depth: int) -> str | None:
    parent = path.rsplit(".", 1)[-1]
    for key, value in node.items():
        if not isinstance(key, str):
            return f"{path}: a key that is not text"
        if parent in _NAMED_MAPS:
            if key not in declared:
                return f"{path}: a name the code does not declare"
        elif key not in SCHEMA_KEYWORDS:
            return f"{path}: a key that is not JSON Schema's"
        problem = _mismatch(value, declared, f"{path}.{key}", depth + 1)
        if problem is not None:
            return problem
    return None


def _walk_type(annotation: Any, found: set[object], seen: set[object]) -> None:
    """Add what `annotation` and the types it names declare: values, names, texts, constraints."""
    try:
        if annotation in seen:
            return
        seen.add(annotation)
    except TypeError:  # an unhashable annotation: walked without the shortcut
        pass
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Annotated:
        _walk_type(arguments[0], found, seen)
        for extra in annotation.__metadata__:
            _add_metadata(extra, found, seen)
    elif origin is typing.Literal:
        for value in arguments:
            _add_value(value, found)
    elif origin is not None or isinstance(annotation, types.UnionType):
        for argument in arguments:
            _walk_type(argument, found, seen)
    elif isinstance(annotation, type):
        _walk_class(annotation, found, seen)


def _walk_class(cls: type, found: set[object], seen: set[object]) -> None:
    if cls.__module__.split(".", 1)[0] in _SDK_PACKAGES:
        return  # the SDK's own types (the context, a CallToolResult wrapper) are never in a tool's schemas
    if issubclass(cls, BaseModel | enum.Enum):
        found.update(_class_values(cls))  # the same models recur in every tool: each is walked once
    elif dataclasses.is_dataclass(cls) or typing.is_typeddict(cls):
        found.add(cls.__name__)
        _add_doc(cls, found)
        for name, hint in typing.get_type_hints(cls, include_extras=True).items():
            found.add(name)
            _walk_type(hint, found, seen)


@functools.cache
def _class_values(cls: type) -> frozenset[object]:
    """What a model or an enum declares, including the models its fields name (a pure function of the code)."""
    found: set[object] = set()
    seen: set[object] = {cls}
    if issubclass(cls, enum.Enum):
        found.add(cls.__name__)
        _add_doc(cls, found)
        for member in cls:
            _add_value(member.value, found)
    elif issubclass(cls, BaseModel):
        found.add(cls.__name__)
        _add_doc(cls, found)
        for name, field in cls.model_fields.items():
            found.add(name)
            _add_field(field, found, seen)
    return frozenset(found)


def _add_field(field: FieldInfo, found: set[object], seen: set[object]) -> None:
    for text in (field.description, field.title, field.alias, field.serialization_alias, field.validation_alias):
        if isinstance(text, str):
            found.add(text)
    if not field.is_required():
        _add_value(field.default, found)
    for example in field.examples or ():
        _add_value(example, found)
    for extra in field.metadata:
        _add_metadata(extra, found, seen)
    _walk_type(field.annotation, found, seen)


def _add_metadata(extra: object, found: set[object], seen: set[object]) -> None:
    """A `Field(...)`, a constraint (`annotated_types.Ge`, pydantic's pattern holder) or a type."""
    if isinstance(extra, FieldInfo):
        _add_field(extra, found, seen)
    elif isinstance(extra, type):
        _walk_type(extra, found, seen)
    elif dataclasses.is_dataclass(extra):
        for item in dataclasses.fields(extra):
            _add_value(getattr(extra, item.name), found)
    elif hasattr(extra, "__dict__"):
        for value in vars(extra).values():
            _add_value(value, found)


def _add_value(value: object, found: set[object]) -> None:
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        found.add(value)
    elif isinstance(value, list | tuple | set | frozenset):
        _add_values(value, found)
    elif isinstance(value, dict):
        _add_values(value.keys(), found)
        _add_values(value.values(), found)


def _add_values(values: Iterable[object], found: set[object]) -> None:
    for value in values:
        _add_value(value, found)


def _add_doc(cls: type, found: set[object]) -> None:
    doc = cls.__dict__.get("__doc__")
    if isinstance(doc, str):
        found.add(inspect.cleandoc(doc))
