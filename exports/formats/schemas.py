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
    # data, payload and final differ in shape by kind: JSON text (parquet_json_columns).
    "annotations": pa.schema(
        [
            ("annotation_id", pa.int64()),
            ("annotator", pa.string()),
            ("created_at", pa.string()),
            ("data", pa.string()),
            ("display_order", pa.string()),
            ("external_id", pa.string()),
            ("final", pa.string()),
            ("guidelines_version", pa.int64()),
            ("item_id", pa.int64()),
            ("kind", pa.string()),
            ("payload", pa.string()),
            ("round", pa.int64()),
            ("seconds_spent", pa.float64()),
            ("skip_reasons", pa.list_(pa.string())),
            ("split", pa.string()),
        ]
    ),
}
_JSON_COLUMNS: dict[str, frozenset[str]] = {"annotations": frozenset({"data", "payload", "final"})}
# The extra columns option: the item's external_id, and its metadata as JSON text (its keys
# are the team's own, so no fixed struct fits).
_EXTRA_FIELDS = (("external_id", pa.string()), ("metadata", pa.string()))


def parquet_schema(shape: str, *, extra_columns: bool = False) -> pa.Schema:
    """The schema of a row shape (a JSON format's name), with the extra columns when asked."""
    schema = _SCHEMAS[shape]
    if not extra_columns:
        return schema
    fields = {f.name: f for f in schema}
    for name, kind in _EXTRA_FIELDS:
        fields.setdefault(name, pa.field(name, kind))
    return pa.schema([fields[name] for name in sorted(fields)])


def parquet_json_columns(shape: str, *, extra_columns: bool = False) -> frozenset[str]:
    """The columns written as JSON text in Parquet."""
    columns = _JSON_COLUMNS.get(shape, frozenset())
    return columns | {"metadata"} if extra_columns else columns
