"""Arguments in, answers out: one error style for every argument mistake, and compact text answers.

The SDK validates a call's arguments with pydantic and, on a mistake, answers pydantic's own text
(one block per problem, with links to pydantic's docs); it also drops an argument it does not
know without a word, so a misspelt `dryRun` turns a free preview into a paid create. `CheckedTool`
runs first: every problem (missing, wrong type, out of range, unknown on a paid tool) comes back at
once in the server's own form, "Invalid input, nothing was sent and no credits were spent", with
what to send instead. Its answers' text is compact JSON without null or empty fields; structured
content is left as the output schema says.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, TextContent
from pydantic import ValidationError

from runway_mcp.errors import InputError

if TYPE_CHECKING:
    from mcp.server.context import LifespanContextT, RequestT
    from mcp.server.mcpserver.context import Context

__all__ = ["CheckedTool", "argument_problems", "compact_answer", "describe_validation_error"]

SHOWN_CHARACTERS: Final = 60
_KINDS: Final = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


class CheckedTool(Tool):
    """The SDK's tool, with the checks and answer shape described in this module's docstring."""

    refuses_unknown: bool = False

    async def run(
        self,
        arguments: dict[str, Any],
        context: Context[LifespanContextT, RequestT],
        convert_result: bool = False,
    ) -> Any:
        problems = argument_problems(self, arguments)
        if problems:
            raise ToolError(InputError(problems).message)
        try:
            result = await super().run(arguments, context, convert_result=convert_result)
        except UnexpectedToolError:
            raise  # a crash: the SDK says only that the tool failed, and logs the rest
        except ToolError as exc:
            # The SDK puts "Error executing tool <name>: " before our own message; the model reads ours only.
            prefix = f"Error executing tool {self.name}: "
            message = str(exc)
            if not message.startswith(prefix):
                raise
            raise ToolError(message.removeprefix(prefix)) from exc.__cause__
        return compact_answer(result)


def argument_problems(tool: Tool, arguments: Mapping[str, Any]) -> list[str]:
    """Every problem with `arguments`, as lines a model can act on; empty when the call may go ahead."""
    # What the argument model takes: the published schema leaves out a constant nobody needs to send.
    known = [field.alias or name for name, field in tool.fn_metadata.arg_model.model_fields.items()]
    refuses_unknown = bool(getattr(tool, "refuses_unknown", False))
    problems: list[str] = []
    try:
        tool.fn_metadata.validate_arguments(dict(arguments))
    except ValidationError as exc:
        problems += describe_validation_error(exc)
    unknown = [name for name in arguments if name not in known]
    if not unknown or not (refuses_unknown or problems):
        return problems  # a free tool ignores an unknown argument, unless it helps explain another problem
    settings = _option_names(tool)
    problems = [
        f"{name}: a setting, not an argument: pass it as options={{{name!r}: ...}}."
        if name in settings
        else f"{name}: not an argument of this tool{_did_you_mean(name, known)}"
        for name in unknown
    ] + problems
    takes = f"{tool.name} takes: {', '.join(known)}."
    if refuses_unknown:
        takes += " A paid tool refuses an unknown argument: a misspelt dry_run must not buy a task."
    return [*problems, takes]


def _option_names(tool: Tool) -> set[str]:
    """The settings a create tool takes inside `options` (named in its description: tools/signature.py)."""
    options = tool.parameters.get("properties", {}).get("options", {})
    text = str(options.get("description", "")).partition(":")[2].partition(".")[0]
    return {name.strip() for name in text.split(",") if name.strip()}


def describe_validation_error(exc: ValidationError) -> list[str]:
    """Pydantic's errors as `where: what is wrong (got what)` lines, without its links or internal names."""
    return [f"{_where(error['loc'])}: {_what(error)}" for error in exc.errors(include_url=False)]


def compact_answer(result: Any) -> Any:
    """A result whose first block is its structured content as JSON, with that block compact and pruned."""
    if not isinstance(result, CallToolResult) or not isinstance(result.structured_content, dict):
        return result
    first = result.content[0] if result.content else None
    if not isinstance(first, TextContent):
        return result
    try:
        shown = json.loads(first.text)
    except ValueError:
        return result
    pruned = _prune(result.structured_content)
    if _prune(shown) != pruned:
        return result
    text = json.dumps(pruned, separators=(",", ":"), ensure_ascii=False)
    return result.model_copy(update={"content": [TextContent(type="text", text=text), *result.content[1:]]})


def _prune(value: Any) -> Any:
    """`value` without null, empty-string, empty-list and empty-object members (recursively)."""
    if isinstance(value, dict):
        kept = {key: _prune(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in (None, "", [], {})}
    if isinstance(value, list):
        return [_prune(item) for item in value]
    return value


def _did_you_mean(name: str, known: list[str]) -> str:
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower().replace("-", "_")
    if snake in known:
        return f" (did you mean {snake}?)"
    close = difflib.get_close_matches(snake, known, n=1, cutoff=0.7)
    return f" (did you mean {close[0]}?)" if close else ""


def _where(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "arguments"


def _what(error: Mapping[str, Any]) -> str:
    kind, context = error["type"], error.get("ctx") or {}
    got = f" (got {_shown(error.get('input'))})"
    if kind == "missing":
        return "required, and missing"
    if kind in _KINDS:
        return f"must be {_KINDS[kind]}{got}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = next(iter(context.values()), "?")
        words = {"greater_than_equal": "at least", "greater_than": "more than", "less_than_equal": "at most"}
        return f"must be {words.get(kind, 'less than')} {bound}{got}"
    if kind == "string_too_short":
        return (
            "must not be empty"
            if context.get("min_length") == 1
            else f"needs at least {context.get('min_length')} characters"
        )
    if kind == "string_too_long":
        return f"must be at most {context.get('max_length')} characters (got {len(str(error.get('input', '')))})"
    if kind in ("too_short", "too_long"):
        limit = context.get("min_length") if kind == "too_short" else context.get("max_length")
        return f"needs {'at least' if kind == 'too_short' else 'at most'} {limit} items (got {context.get('actual_length')})"
    if kind in ("literal_error", "enum"):
        return f"must be one of {context.get('expected')}{got}"
    if kind == "string_pattern_mismatch":
        return f"must match the pattern {context.get('pattern')}{got}"
    return f"{error.get('msg', 'is not valid')}{got}"


def _shown(value: Any) -> str:
    """The rejected value, short, and never a data URI's bytes."""
    if isinstance(value, str) and value[:5].lower() == "data:":
        return f"a data URI of {len(value)} characters"
    if isinstance(value, dict | list):
        return f"{'an object' if isinstance(value, dict) else 'a list'} of {len(value)}"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= SHOWN_CHARACTERS else text[: SHOWN_CHARACTERS - 3] + "..."
