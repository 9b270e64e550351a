"""Fast JSON encoding for hot paths (bulk import, exports), exact where the stdlib is.

orjson is several times faster than `json`, but it refuses integers beyond 64 bits; those fall
back to the stdlib so no valid value is ever refused."""

import json
from typing import Any

import orjson


def dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else 0)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(
            value, ensure_ascii=False, sort_keys=sort_keys, separators=(",", ":")
        ).encode("utf-8")
