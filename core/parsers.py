"""The API's JSON parser: DRF's, refusing with a 400 what would otherwise fail later as a 500.

* nesting deeper than MAX_DEPTH (Python's decoder would recurse until RecursionError);
* lone surrogates (``"\\ud800"``): valid JSON escapes that are no Unicode text, which neither
  PostgreSQL nor a UTF-8 response can hold;
* ``NaN``, ``Infinity`` and ``-Infinity``, which are not JSON (Python's decoder accepts them).
"""

import json
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 64


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_json_value(data: Any) -> None:
    """Raise ValueError for nesting deeper than MAX_DEPTH or a string that is not Unicode
    text (a lone surrogate). Iterative: any depth is walked without recursion."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(value, dict):
                for key, item in value.items():
                    _check_text(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            "a string holds a lone surrogate (\\ud800-\\udfff), which is not Unicode text"
        ) from None


def loads(text: str | bytes) -> Any:
    """json.loads refusing what the module's docstring lists: a ValueError saying why, as for
    a syntax error, never a RecursionError. The API's parser and the pages' JSON fields."""
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    check_json_value(data)
    return data


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - the body is not {encoding}: {exc}") from None
        try:
            return loads(text)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
