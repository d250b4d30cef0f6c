"""The input schemas a model reads, without what it does not need.

Every tool's definition is read by the model on every turn, so bytes there cost every conversation.
Pydantic's schemas carry a `title` on every field (the field's name again), and an optional field
is `anyOf: [type, null]` with `default: null`; a model reads an optional field the same without
them. Validation is not affected: the SDK validates a call with the tool's argument model, not
with the published schema, and each create is checked against the chosen model's own limits
before anything is sent.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compact_schema"]

_NULL = {"type": "null"}
_DEFS = "#/$defs/"
# Keywords whose value is one schema or a list of schemas.
_SUBSCHEMAS = ("items", "anyOf", "oneOf", "allOf", "not", "prefixItems", "additionalProperties")
# Keywords whose value maps names to schemas.
_SCHEMA_MAPS = ("properties", "$defs", "patternProperties")


def compact_schema(schema: dict[str, Any], *, closed: bool = False) -> dict[str, Any]:
    """`schema` without titles, null branches or the docstrings of its definitions, each definition used once
    written in place; `closed` also refuses unknown arguments at the top level."""
    compacted: dict[str, Any] = _compact(schema)
    definitions = compacted.pop("$defs", {})
    uses: dict[str, int] = {}
    _count_refs(compacted, uses)
    for definition in definitions.values():
        _count_refs(definition, uses)
    kept = {name: _undocumented(d) for name, d in definitions.items() if uses.get(name, 0) > 1}
    inline = {name: _undocumented(d) for name, d in definitions.items() if name not in kept}
    compacted = _inline(compacted, inline)
    if kept:
        compacted["$defs"] = {name: _inline(d, inline) for name, d in kept.items()}
    if closed:
        compacted["additionalProperties"] = False
    return compacted


def _fixed(schema: Any) -> bool:
    return isinstance(schema, dict) and "const" in schema and schema.get("default") == schema["const"]


def _undocumented(definition: Any) -> Any:
    """A definition without its own description (the class docstring): the field that uses it says what it is for."""
    if isinstance(definition, dict):
        return {key: value for key, value in definition.items() if key != "description"}
    return definition


def _count_refs(node: Any, uses: dict[str, int]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEFS):
            uses[ref[len(_DEFS) :]] = uses.get(ref[len(_DEFS) :], 0) + 1
        for value in node.values():
            _count_refs(value, uses)
    elif isinstance(node, list):
        for item in node:
            _count_refs(item, uses)


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    """`node` with each `$ref` to one of `definitions` replaced by the definition (the node's own keys win)."""
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_DEFS) and ref[len(_DEFS) :] in definitions:
        own = {key: value for key, value in node.items() if key != "$ref"}
        node = {**definitions[ref[len(_DEFS) :]], **own}
    return {key: _inline(value, definitions) for key, value in node.items()}


def _compact(node: Any) -> Any:
    if isinstance(node, list):
        return [_compact(item) for item in node]
    if not isinstance(node, dict):
        return node
    branches = node.get("anyOf")
    if (
        isinstance(branches, list)
        and len(branches) == 2
        and _NULL in branches
        and "default" in node
        and node["default"] is None
    ):
        (kept,) = [branch for branch in branches if branch != _NULL]
        rest = {key: value for key, value in node.items() if key not in ("anyOf", "default")}
        node = {**kept, **rest}
    compacted: dict[str, Any] = {}
    properties = node.get("properties")
    if isinstance(properties, dict):  # a constant with that default is never the caller's to send
        fixed = {name for name, schema in properties.items() if _fixed(schema)}
        node = {**node, "properties": {k: v for k, v in properties.items() if k not in fixed}}
        if fixed and isinstance(node.get("required"), list):
            node["required"] = [name for name in node["required"] if name not in fixed]
    for key, value in node.items():
        if key == "title" or (key == "minLength" and value == 1):  # "not empty" is the server's to say
            continue
        if key == "default" and value is False and node.get("type") == "boolean":  # as a boolean is when omitted
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            compacted[key] = {name: _compact(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMAS:
            compacted[key] = _compact(value)
        else:
            compacted[key] = value
    return compacted
