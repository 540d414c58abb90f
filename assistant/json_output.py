"""Checking model output that is meant to be JSON: parse (tolerating a fenced block), then validate against a
pydantic model or the common JSON-schema keywords."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel


def validate_json(text: str, schema: dict[str, Any] | type[BaseModel]) -> dict[str, Any]:
    """Parse `text` as a JSON object and check it against `schema`; raises ValueError or ValidationError."""
    try:
        value = json.loads(_strip_fence(text))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_validate(value).model_dump(mode="json")
    check_schema(value, schema)
    return value


def _strip_fence(text: str) -> str:
    text = text.strip()
    if text.startswith("```") and text.endswith("```"):
        text = text[3:-3].strip()
        return text[4:] if text.startswith("json") else text
    return text


_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def check_schema(value: Any, schema: dict[str, Any], where: str = "$") -> None:
    """Check the common JSON-schema keywords (type, enum, required, properties, items, anyOf); ValueError if not."""
    if "anyOf" in schema:
        if not any(_passes(value, sub, where) for sub in schema["anyOf"]):
            raise ValueError(f"{where}: matches none of the allowed shapes")
        return
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if kinds and not any(_JSON_TYPES.get(k, lambda _: True)(value) for k in kinds):
        raise ValueError(f"{where}: expected {'/'.join(kinds)}, got {json.dumps(value, ensure_ascii=False)[:60]}")
    if "enum" in schema and value not in schema["enum"]:
        raise ValueError(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        missing = [k for k in schema.get("required", []) if k not in value]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                check_schema(value[key], sub, f"{where}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            check_schema(item, schema["items"], f"{where}[{i}]")


def _passes(value: Any, schema: dict[str, Any], where: str) -> bool:
    try:
        check_schema(value, schema, where)
    except ValueError:
        return False
    return True
