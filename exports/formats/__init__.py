"""Training-data export formats: pure functions over plain ``ExportRecord`` objects (no Django).

An export job calls ``write_export(format_name, records, fileobj)``; ``FORMATS`` lists the formats
with the kinds each takes, its container, file extension and content type.
"""

from .annotations import AnnotationRecord
from .records import (
    EncodedBatch,
    ExportRecord,
    ExportRecordError,
    Pair,
    preference_pair,
    prompt_messages,
)
from .registry import (
    DEFAULT_PARQUET_SHAPE,
    EXTRA_COLUMNS,
    FORMATS,
    SHAPES,
    ExportFormat,
    ExportFormatError,
    ExportResult,
    format_get,
    write_export,
)
from .writers import WriteStats, encode_json, write_json_array, write_jsonl, write_parquet

__all__ = [
    "DEFAULT_PARQUET_SHAPE",
    "EXTRA_COLUMNS",
    "FORMATS",
    "SHAPES",
    "AnnotationRecord",
    "EncodedBatch",
    "ExportFormat",
    "ExportFormatError",
    "ExportRecord",
    "ExportRecordError",
    "ExportResult",
    "Pair",
    "WriteStats",
    "encode_json",
    "format_get",
    "preference_pair",
    "prompt_messages",
    "write_export",
    "write_json_array",
    "write_jsonl",
    "write_parquet",
]
