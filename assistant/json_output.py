"""Checking model output that is meant to be JSON: parse (tolerating a fenced block), then validate against a
pydantic model or a JSON schema (checked with `jsonschema`, whatever draft the schema declares; 2020-12 when it
declares none)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, best_match
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


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    cls = validators.validator_for(schema, default=Draft202012Validator)
    return cls(schema)


def _path(parts: Any) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def check_schema(value: Any, schema: dict[str, Any], where: str = "$") -> None:
    """Check `value` against the JSON schema; ValueError naming the path of the most relevant failure."""
    validator = _validator(json.dumps(schema, sort_keys=True, ensure_ascii=False))
    error = best_match(validator.iter_errors(value))
    if error is not None:
        path = _path(error.absolute_path)
        raise ValueError(f"{where}{path[1:]}: {error.message[:200]}")


def schema_problem(schema: Any) -> str | None:
    """Why `schema` is not a usable JSON schema (None when it is)."""
    if not isinstance(schema, dict):
        return "a JSON schema must be an object"
    try:
        validators.validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except SchemaError as exc:
        return f"invalid JSON schema: {exc.message[:200]}"
    return None
