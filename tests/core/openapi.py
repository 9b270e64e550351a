"""The OpenAPI schema as tests read it: generated once per session, and checked against real
responses with JSON Schema (OpenAPI 3.0's `nullable` turned into a null alternative)."""

import functools
import json
import re
from typing import Any

from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from jsonschema import Draft7Validator


@functools.cache
def openapi() -> dict[str, Any]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(schema))


def components() -> dict[str, Any]:
    return openapi()["components"]["schemas"]


def component(ref_or_name: str) -> dict[str, Any]:
    return components()[ref_or_name.rsplit("/", 1)[-1]]


def operation(path: str, method: str) -> dict[str, Any]:
    return openapi()["paths"][path][method.lower()]


def response_schema(path: str, method: str, status: int) -> dict[str, Any] | None:
    content = operation(path, method)["responses"][str(status)].get("content") or {}
    return content.get("application/json", {}).get("schema")


def _as_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_as_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    converted = {k: _as_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@functools.cache
def _json_schema_components() -> dict[str, Any]:
    return _as_json_schema(openapi()["components"])


def validate(instance: Any, schema: dict[str, Any]) -> list[str]:
    """Every way `instance` does not match `schema` (a schema of the OpenAPI document)."""
    root = {"allOf": [_as_json_schema(schema)], "components": _json_schema_components()}
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in Draft7Validator(root).iter_errors(instance)
    ]


@functools.cache
def _templates() -> list[tuple[re.Pattern, str]]:
    return [
        (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
        for path in openapi()["paths"]
    ]


def path_of(url: str) -> str:
    """The schema's path template for a request URL ("/api/v1/items/3/" -> ".../{item_id}/")."""
    bare = url.split("?", 1)[0]
    for pattern, path in _templates():
        if pattern.match(bare):
            return path
    raise LookupError(f"no path of the schema matches {url}")
