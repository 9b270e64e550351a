"""Turning an uploaded body into item rows: a JSON array, `{"items": [...]}`, or NDJSON."""

import json
from typing import Any

from django.conf import settings

from core.errors import ApplicationError, PayloadTooLarge


def _limits_message(what: str) -> str:
    return (
        f"{what}: at most {settings.RUBRIC_IMPORT_MAX_ITEMS:,} items and "
        f"{settings.RUBRIC_IMPORT_MAX_BYTES // (1024 * 1024)} MB per request; split the upload."
    )


def check_size(size: int) -> None:
    if size > settings.RUBRIC_IMPORT_MAX_BYTES:
        raise PayloadTooLarge(_limits_message(f"The body is {size:,} bytes"))


def check_count(count: int) -> None:
    if count > settings.RUBRIC_IMPORT_MAX_ITEMS:
        raise PayloadTooLarge(_limits_message(f"The body holds {count:,} items"))


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise ApplicationError(f"The body is not UTF-8 (line {line}, byte {exc.start}).") from None


def rows_from_json(body: bytes) -> list[Any]:
    check_size(len(body))
    text = _decode(body)
    if not text.strip():
        raise ApplicationError("The body is empty: send a JSON array of items.")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApplicationError(
            f"Malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
            {"errors": [{"line": exc.lineno, "column": exc.colno, "message": exc.msg}]},
        ) from None
    if isinstance(parsed, dict) and set(parsed) == {"items"}:
        parsed = parsed["items"]
    if not isinstance(parsed, list):
        raise ApplicationError('Send a JSON array of items, or an object {"items": [...]}.')
    check_count(len(parsed))
    return parsed


def rows_from_ndjson(body: bytes) -> list[Any]:
    """One JSON object per line; blank lines are allowed and ignored."""
    check_size(len(body))
    lines = _decode(body).split("\n")
    check_count(sum(1 for line in lines if line.strip()))
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ApplicationError(
                f"Malformed NDJSON at line {number}, column {exc.colno}: {exc.msg}.",
                {"errors": [{"line": number, "column": exc.colno, "message": exc.msg}]},
            ) from None
    if not rows:
        raise ApplicationError("The body is empty: send one JSON item per line.")
    return rows


NDJSON_TYPES = {"application/x-ndjson", "application/jsonl", "application/x-jsonlines"}


def rows_from_body(body: bytes, content_type: str) -> list[Any]:
    media_type = content_type.split(";")[0].strip().lower()
    if media_type in NDJSON_TYPES:
        return rows_from_ndjson(body)
    return rows_from_json(body)


def rows_from_file(name: str, body: bytes) -> list[Any]:
    """A file by its extension: .jsonl / .ndjson line by line, anything else as JSON."""
    if name.lower().endswith((".jsonl", ".ndjson")):
        return rows_from_ndjson(body)
    return rows_from_json(body)
