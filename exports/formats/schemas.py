"""Explicit pyarrow schemas for the Parquet container, one per row shape.

Columns and struct fields are in sorted order, the order the JSON files have (``sort_keys``), so
``datasets`` gives the same features whether it reads the JSONL or the Parquet export of a shape.
"""

from __future__ import annotations

import pyarrow as pa

_MESSAGES = pa.list_(pa.struct([("content", pa.string()), ("role", pa.string())]))
_SHAREGPT_TURNS = pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))

_SCHEMAS: dict[str, pa.Schema] = {
    "trl-sft": pa.schema([("messages", _MESSAGES)]),
    "trl-prompt-completion": pa.schema([("completion", _MESSAGES), ("prompt", _MESSAGES)]),
    "trl-preference": pa.schema(
        [("chosen", _MESSAGES), ("prompt", _MESSAGES), ("rejected", _MESSAGES)]
    ),
    "trl-kto": pa.schema([("completion", _MESSAGES), ("label", pa.bool_()), ("prompt", _MESSAGES)]),
    "openai-chat": pa.schema([("messages", _MESSAGES)]),
    "openai-dpo": pa.schema(
        [
            ("input", pa.struct([("messages", _MESSAGES)])),
            ("non_preferred_output", _MESSAGES),
            ("preferred_output", _MESSAGES),
        ]
    ),
    "alpaca": pa.schema(
        [("input", pa.string()), ("instruction", pa.string()), ("output", pa.string())]
    ),
    "sharegpt": pa.schema([("conversations", _SHAREGPT_TURNS), ("id", pa.string())]),
}


def parquet_schema(shape: str) -> pa.Schema:
    """The schema of a row shape (a JSON format's name)."""
    return _SCHEMAS[shape]
