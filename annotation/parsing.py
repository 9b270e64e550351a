"""Turning an uploaded body into item rows: a JSON array, `{"items": [...]}`, NDJSON or CSV."""

import csv
import io
import json
from typing import Any

from django.conf import settings

from annotation import kinds
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


def _loads(text: str) -> Any:
    """json.loads, with nesting too deep for the decoder a 400 instead of a RecursionError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ApplicationError("The JSON is nested too deeply.") from None


def _several_json_values(text: str) -> int:
    """How many JSON values the text holds one after another (NDJSON, or NDJSON whose newlines
    were dropped, as `curl -d @file` does); 0 when it is not such a sequence."""
    decoder = json.JSONDecoder()
    count, position, end = 0, 0, len(text)
    try:
        while True:
            while position < end and text[position] in " \t\r\n":
                position += 1
            if position == end:
                return count
            _value, position = decoder.raw_decode(text, position)
            count += 1
    except (json.JSONDecodeError, RecursionError):
        return 0


def rows_from_json(body: bytes, media_type: str = "application/json") -> list[Any]:
    check_size(len(body))
    text = _decode(body)
    if not text.strip():
        raise ApplicationError("The body is empty: send a JSON array of items.")
    try:
        parsed = _loads(text)
    except json.JSONDecodeError as exc:
        if _several_json_values(text) > 1:
            raise ApplicationError(
                f"The body holds one JSON item per line (NDJSON) but was sent as "
                f"{media_type or 'a body without a content type'}: send it with "
                "Content-Type: application/x-ndjson (curl: -H 'Content-Type: "
                "application/x-ndjson' --data-binary @items.jsonl; -d drops the newlines), "
                "or send a JSON array.",
                {
                    "errors": [
                        {
                            "field": "Content-Type",
                            "message": f"{media_type}: use application/x-ndjson for NDJSON.",
                        }
                    ]
                },
            ) from None
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
            rows.append(_loads(line))
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
    if media_type in CSV_TYPES:
        return rows_from_csv(body)
    return rows_from_json(body, media_type)


def rows_from_file(name: str, body: bytes) -> list[Any]:
    """A file by its extension: .jsonl / .ndjson line by line, .csv by rows, else as JSON."""
    if name.lower().endswith((".jsonl", ".ndjson")):
        return rows_from_ndjson(body)
    if name.lower().endswith(".csv"):
        return rows_from_csv(body)
    return rows_from_json(body)


# --- CSV ---------------------------------------------------------------------------------------

CSV_TYPES = {"text/csv", "application/csv"}
# Columns of an item row in CSV: the item's fields, the shared data fields, and each kind's
# data fields (a preference's two responses as response_a/b and model_a/b, say).
_KIND_COLUMNS = tuple(
    dict.fromkeys(name for kind in kinds.registry for name in kind.csv_data_columns)
)
CSV_COLUMNS = (
    "external_id",
    "kind",
    "prompt",
    "messages",
    "system",
    *_KIND_COLUMNS,
    "priority",
    "split",
    "metadata",
    "gold",
)
_CSV_DATA = ("prompt", "system")
_CSV_JSON = ("messages", "metadata", "gold")


def _csv_problem(line: int, index: int | None, external_id: Any, field: str, message: str) -> dict:
    return {
        "index": index,
        "line": line,
        "external_id": external_id,
        "field": field,
        "message": message,
    }


def _csv_row(cells: dict[str, str], index: int, line: int, problems: list[dict]) -> dict:
    """One CSV record as an item row; an empty cell is an absent value."""
    present = {name: value for name, value in cells.items() if value != ""}
    external_id = present.get("external_id")
    row: dict[str, Any] = {}
    for name in ("external_id", "kind", "split"):
        if name in present:
            row[name] = present[name]
    data: dict[str, Any] = {name: present[name] for name in _CSV_DATA if name in present}
    for name in _CSV_JSON:
        if name not in present:
            continue
        try:
            value = _loads(present[name])
        except json.JSONDecodeError as exc:
            problems.append(
                _csv_problem(line, index, external_id, name, f"Not valid JSON: {exc.msg}.")
            )
            continue
        if name == "messages":
            data["messages"] = value
        else:
            row[name] = value
    # Every kind's columns: the validator then names a field the row's kind does not take.
    for kind in kinds.registry:
        data.update(kind.data_from_csv(present))
    row["data"] = data  # empty: the validator then names the missing prompt
    if "priority" in present:
        try:
            row["priority"] = float(present["priority"])
        except ValueError:
            problems.append(_csv_problem(line, index, external_id, "priority", "Must be a number."))
    return row


def csv_rows_and_lines(body: bytes) -> tuple[list[Any], list[int]]:
    """Item rows from CSV with a header row, and the line each row starts on (for reports).

    Columns: see CSV_COLUMNS; `messages`, `metadata` and `gold` hold JSON text. Every problem
    of the file (unknown columns, bad JSON in a cell, a priority that is not a number) is
    reported at once with its line, and nothing is returned."""
    check_size(len(body))
    text = _decode(body)
    if text.startswith("\ufeff"):  # a byte-order mark, as spreadsheet programs write it
        text = text[1:]
    if not text.strip():
        raise ApplicationError("The file is empty: send a header row, then one item per row.")
    # A cell may be as long as the whole upload (a long messages JSON, say).
    csv.field_size_limit(max(csv.field_size_limit(), settings.RUBRIC_IMPORT_MAX_BYTES))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise ApplicationError(f"Malformed CSV at line {reader.line_num}: {exc}.") from None
    header = [name.strip().lower() for name in header]
    problems: list[dict] = []
    unknown = [name for name in header if name not in CSV_COLUMNS]
    for name in unknown:
        problems.append(
            _csv_problem(
                1,
                None,
                None,
                name or "(empty)",
                f"Unknown column. Columns: {', '.join(CSV_COLUMNS)}.",
            )
        )
    for name in sorted({n for n in header if header.count(n) > 1}):
        problems.append(_csv_problem(1, None, None, name, "This column appears more than once."))
    if "external_id" not in header:
        problems.append(_csv_problem(1, None, None, "external_id", "The column is required."))
    if problems:
        raise _csv_invalid(problems)
    rows: list[Any] = []
    lines: list[int] = []
    start = reader.line_num + 1
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                start = reader.line_num + 1
                continue
            index, line = len(rows), start
            if len(record) != len(header):
                problems.append(
                    _csv_problem(
                        line,
                        index,
                        None,
                        "",
                        f"Has {len(record)} cells; the header has {len(header)} columns.",
                    )
                )
                record = (record + [""] * len(header))[: len(header)]
            rows.append(_csv_row(dict(zip(header, record, strict=True)), index, line, problems))
            lines.append(line)
            start = reader.line_num + 1
            check_count(len(rows))
    except csv.Error as exc:
        raise ApplicationError(
            f"Malformed CSV at line {reader.line_num}: {exc}.",
            {"errors": [{"line": reader.line_num, "message": str(exc)}]},
        ) from None
    if problems:
        raise _csv_invalid(problems)
    if not rows:
        raise ApplicationError("The file holds a header row but no items.")
    return rows, lines


def _csv_invalid(problems: list[dict]) -> ApplicationError:
    first = problems[0]
    where = f"line {first['line']}" + (f" {first['field']}" if first["field"] else "")
    return ApplicationError(
        f"{len(problems)} problem(s) in the CSV; nothing was written. First: {where}: "
        f"{first['message']}",
        {"errors": problems},
    )


def rows_from_csv(body: bytes) -> list[Any]:
    """Item rows from CSV (see csv_rows_and_lines)."""
    return csv_rows_and_lines(body)[0]


def ndjson_lines(body: bytes) -> list[int]:
    """The line number of each item of an NDJSON body (blank lines skipped), for reports."""
    return [
        number
        for number, line in enumerate(body.decode("utf-8", "replace").split("\n"), start=1)
        if line.strip()
    ]


def rows_and_lines_from_file(name: str, body: bytes) -> tuple[list[Any], list[int] | None]:
    """rows_from_file, and for line-based formats the line each row came from."""
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return csv_rows_and_lines(body)
    rows = rows_from_file(name, body)
    if lowered.endswith((".jsonl", ".ndjson")):
        return rows, ndjson_lines(body)
    return rows, None
