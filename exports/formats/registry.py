"""The export formats by name, and ``write_export``, the one call an export job makes."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal

from annotation import kinds
from hygiene.pii import Unscanned

from .alpaca import alpaca_rows
from .annotations import ANNOTATION_COLUMNS, annotation_rows
from .evaluation import eval_results_rows
from .openai import openai_chat_rows, openai_dpo_rows
from .records import (
    SKIP_KIND,
    EncodedBatch,
    ExportRecord,
    Row,
    category_of,
    gives_label,
    label_skip_reason,
    pair_skip_reason,
)
from .sharegpt import sharegpt_rows
from .trl import (
    trl_kto_labelled_rows,
    trl_kto_rows,
    trl_preference_rows,
    trl_prompt_completion_rows,
    trl_sft_rows,
)
from .writers import (
    PARQUET_ROW_GROUP_SIZE,
    EncodedLines,
    WriteStats,
    encode_json,
    write_json_array,
    write_jsonl,
    write_parquet,
)

Container = Literal["jsonl", "json-array", "parquet"]
RowFunction = Callable[[ExportRecord], Iterable[Row]]
ProgressCallback = Callable[[int, int], Any]
# Called with (item id, row) for every row before it is written; returns the row to write
# (the personal data scanner, which may redact).
RowFilter = Callable[[int, Row], Row]
# The same for the rows of an EncodedBatch: the batch -> the batch to write.
LineFilter = Callable[[EncodedBatch], EncodedBatch]

# The columns the ``extra_columns`` option adds to every row of a format: the item's
# ``external_id`` and its ``metadata`` (an object in JSON, JSON text in Parquet). Training
# libraries (datasets, TRL) keep or ignore extra columns; they never change what trains.
EXTRA_COLUMNS = frozenset({"external_id", "metadata"})
ALL_KINDS = frozenset(kind.name for kind in kinds.registry)

# The kinds whose final payload gives an SFT reply, and a preference pair.
SFT_KINDS = frozenset(kind.name for kind in kinds.registry if kind.gives_reply)
PAIR_KINDS = frozenset(kind.name for kind in kinds.registry if kind.gives_pair)
# The kinds whose final payload gives an evaluation result row, and a labelled completion.
RESULT_KINDS = frozenset(kind.name for kind in kinds.registry if kind.gives_result)
LABEL_KINDS = frozenset(kind.name for kind in kinds.registry if kind.gives_label)
# The format that takes labelled completions when the lead asks (`pass_fail`).
LABELLED_FORMAT = "trl-kto"

_EXTENSIONS: dict[str, str] = {"jsonl": "jsonl", "json-array": "json", "parquet": "parquet"}
_CONTENT_TYPES: dict[str, str] = {
    "jsonl": "application/jsonl",
    "json-array": "application/json",
    "parquet": "application/vnd.apache.parquet",
}


class ExportFormatError(ValueError):
    """An unknown format name or a bad option (the API answers it with a 400)."""


@dataclass(frozen=True, slots=True)
class ExportFormat:
    name: str
    kinds: frozenset[str]  # the record kinds it takes; others are skipped
    rows: RowFunction  # record -> 0, 1 or 2 rows
    container: Container
    columns: frozenset[str]  # the keys of every row
    shape: str  # the JSON format whose rows it writes (itself, except for parquet)
    description: str = ""
    # One row per annotation (``annotations``), from AnnotationRecords, not final records.
    per_annotation: bool = False

    @property
    def extension(self) -> str:
        return _EXTENSIONS[self.container]

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES[self.container]


def _json_format(
    name: str, kinds: frozenset[str], rows: RowFunction, columns: set[str], description: str
) -> ExportFormat:
    container: Container = "json-array" if name == "alpaca" else "jsonl"
    return ExportFormat(name, kinds, rows, container, frozenset(columns), name, description)


_SHAPES: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        _json_format(
            "trl-sft",
            SFT_KINDS,
            trl_sft_rows,
            {"messages"},
            "TRL conversational language modeling (SFTTrainer)",
        ),
        _json_format(
            "trl-prompt-completion",
            SFT_KINDS,
            trl_prompt_completion_rows,
            {"prompt", "completion"},
            "TRL conversational prompt-completion (SFTTrainer, completion-only loss)",
        ),
        _json_format(
            "trl-preference",
            PAIR_KINDS,
            trl_preference_rows,
            {"prompt", "chosen", "rejected"},
            "TRL conversational preference (DPOTrainer, RewardTrainer)",
        ),
        _json_format(
            "trl-kto",
            PAIR_KINDS,
            trl_kto_rows,
            {"prompt", "completion", "label"},
            "TRL conversational unpaired preference (KTOTrainer)",
        ),
        _json_format(
            "openai-chat",
            SFT_KINDS,
            openai_chat_rows,
            {"messages"},
            "OpenAI supervised fine-tuning (chat)",
        ),
        _json_format(
            "openai-dpo",
            PAIR_KINDS,
            openai_dpo_rows,
            {"input", "preferred_output", "non_preferred_output"},
            "OpenAI preference fine-tuning (DPO)",
        ),
        _json_format(
            "alpaca",
            SFT_KINDS,
            alpaca_rows,
            {"instruction", "input", "output"},
            "Alpaca instruction/input/output, as one JSON array",
        ),
        _json_format(
            "sharegpt",
            SFT_KINDS,
            sharegpt_rows,
            {"id", "conversations"},
            "ShareGPT conversations (human/gpt/system)",
        ),
        _json_format(
            "eval-results",
            RESULT_KINDS,
            eval_results_rows,
            {"id", "prompt", "model", "response", "scores", "group", "tags"},
            "Evaluation results: prompt, model, response, final scores, group, tags",
        ),
        ExportFormat(
            "annotations",
            ALL_KINDS,
            annotation_rows,  # type: ignore[arg-type]
            "jsonl",
            ANNOTATION_COLUMNS,
            "annotations",
            "Every annotation, one row each (pseudonymous annotator, time, guidelines "
            "version, round, skip reasons, the final record)",
            per_annotation=True,
        ),
    )
}

DEFAULT_PARQUET_SHAPE = "trl-sft"
# The shapes Parquet can write: fixed columns (an evaluation row's scores are keyed by the
# project's own criteria, so eval-results stays JSONL).
SHAPES: tuple[str, ...] = tuple(name for name in _SHAPES if name != "eval-results")


def _parquet_format(shape: str) -> ExportFormat:
    base = _SHAPES[shape]
    return dataclasses.replace(
        base,
        name="parquet",
        container="parquet",
        description=f"{base.description}, as Parquet",
    )


FORMATS: dict[str, ExportFormat] = {
    **_SHAPES,
    "parquet": _parquet_format(DEFAULT_PARQUET_SHAPE),
}


def format_get(name: str, *, shape: str | None = None, pass_fail: bool = False) -> ExportFormat:
    """The format ``name``; for ``parquet``, writing the rows of ``shape`` (default ``trl-sft``).
    ``pass_fail``: ``trl-kto`` also takes labelled single completions (a rubric item's
    response, labelled by its pass/fail).

    Raises ExportFormatError for an unknown name or shape, or a shape given to another format.
    """
    if pass_fail:
        if name != LABELLED_FORMAT or shape not in (None, LABELLED_FORMAT):
            raise ExportFormatError(f"the pass_fail option applies to {LABELLED_FORMAT} only")
        return dataclasses.replace(
            FORMATS[name], kinds=FORMATS[name].kinds | LABEL_KINDS, rows=trl_kto_labelled_rows
        )
    if name not in FORMATS:
        raise ExportFormatError(f"unknown export format {name!r}; one of {', '.join(FORMATS)}")
    if name != "parquet":
        if shape is not None and shape != name:
            raise ExportFormatError("the shape option applies to the parquet format only")
        return FORMATS[name]
    if shape is None or shape == DEFAULT_PARQUET_SHAPE:
        return FORMATS["parquet"]
    if shape not in _SHAPES:
        raise ExportFormatError(f"unknown parquet shape {shape!r}; one of {', '.join(SHAPES)}")
    return _parquet_format(shape)


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote, for the job and its manifest.

    ``counts_by_kind``: records that gave at least one row, by kind (a ``trl-kto`` preference
    record counts once though it gives two rows). ``counts_by_category``: the same records by
    kind, then by final category (instruction ``category``, refusal ``harm_category``); nested by
    kind because the default lists share names (``other``). ``skipped``: records that gave no
    row, by reason (``kind_not_taken``, ``tie``, ``not_refused``, ``no_model_response``,
    ``same_text``); ``skipped_by_kind``: the same records by kind.
    """

    format: str
    shape: str
    rows: int
    sha256: str
    bytes: int
    counts_by_kind: dict[str, int] = field(default_factory=dict)
    counts_by_category: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def records(self) -> int:
        """Records that gave at least one row."""
        return sum(self.counts_by_kind.values())

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, keys sorted, for a manifest."""
        return {
            "format": self.format,
            "shape": self.shape,
            "rows": self.rows,
            "records": self.records,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "counts_by_kind": dict(sorted(self.counts_by_kind.items())),
            "counts_by_category": {
                kind: dict(sorted(counts.items()))
                for kind, counts in sorted(self.counts_by_category.items())
            },
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_by_kind": dict(sorted(self.skipped_by_kind.items())),
        }


def write_export(
    format_name: str,
    records: Iterable[ExportRecord],
    fileobj: BinaryIO,
    *,
    shape: str | None = None,
    pass_fail: bool = False,
    on_progress: ProgressCallback | None = None,
    progress_every: int = 1_000,
    row_group_size: int = PARQUET_ROW_GROUP_SIZE,
    extra_columns: bool = False,
    row_filter: RowFilter | None = None,
    line_filter: LineFilter | None = None,
) -> ExportResult:
    """Write ``records`` to ``fileobj`` (binary, opened for writing) in ``format_name``.

    Streams: records are read one at a time and rows written as they come. ``on_progress(records
    read, rows written)`` is called every ``progress_every`` records and once at the end. The
    caller chooses and orders the records (approved, split, no gold); the same records in the same
    order give a byte-identical file. ``extra_columns`` adds ``external_id`` and ``metadata`` to
    every row; ``row_filter(item_id, row)`` sees (and may rewrite) every row before it is
    written (one with ``scan_stream``, the personal data scanner, is handed every row with its
    JSON bytes, in order, and gives back the bytes or the row to write).
    A per-annotation format (``annotations``) takes AnnotationRecords: one row each, counted by
    kind, without categories. An EncodedBatch (the rows of many records encoded from the pair
    texts read in SQL; JSON containers without extra columns only) is written as it is, after
    ``line_filter(batch)``; ``on_progress`` is then called when the batch crosses a multiple of
    ``progress_every``.
    """
    fmt = format_get(format_name, shape=shape, pass_fail=pass_fail)
    counts_by_kind: Counter[str] = Counter()
    counts_by_category: dict[str, Counter[str]] = {}
    skipped: Counter[str] = Counter()
    skipped_by_kind: Counter[str] = Counter()
    progress = {"records": 0, "rows": 0}
    json_columns: frozenset[str] = frozenset()
    if fmt.container == "parquet":
        from .schemas import parquet_json_columns

        json_columns = parquet_json_columns(fmt.shape, extra_columns=extra_columns)

    # A scanner that rules rows out by their JSON (hygiene.pii.RowScanner.scan_stream) reads
    # the bytes the JSON writers write: each row is encoded once, not for the hint and again
    # for the file. The hint finds in encode_json's bytes all it finds in the row's other JSON
    # (its patterns are ASCII and never span a quote; the escaped line breaks only add text).
    encode_once = (
        row_filter is not None
        and hasattr(row_filter, "scan_stream")
        and fmt.container in ("jsonl", "json-array")
        and not json_columns
    )

    def finish(record: ExportRecord, row: Row) -> Row | Unscanned:
        if extra_columns:
            row = {**row, "external_id": record.external_id, "metadata": record.metadata or {}}
        if encode_once:
            return Unscanned(record.item_id, row, encode_json(row))
        if row_filter is not None:
            row = row_filter(record.item_id, row)
        for column in json_columns:
            value = row[column]
            row[column] = None if value is None else encode_json(value).decode("utf-8")
        return row

    from .sql import ROWS_PER_LINE

    per_line = ROWS_PER_LINE.get(fmt.shape, 1)

    def encoded(batch: EncodedBatch) -> EncodedLines:
        if extra_columns or json_columns or fmt.container == "parquet":
            raise RuntimeError(f"{fmt.name} cannot write rows built in the database")
        if line_filter is not None:
            batch = line_filter(batch)
        rows = len(batch) * per_line
        progress["rows"] += rows
        counts_by_kind.update(batch.kinds)  # kinds with a manifest category are never encoded
        return EncodedLines(batch.lines, rows)

    def rows() -> Iterator[Row | Unscanned | EncodedLines]:
        for record in records:
            if type(record) is EncodedBatch:
                size = len(record)
                if size:
                    yield encoded(record)
                before = progress["records"]
                progress["records"] = before + size
                if on_progress is not None and (
                    before // progress_every != progress["records"] // progress_every
                ):
                    on_progress(progress["records"], progress["rows"])
                continue
            given = 0
            if record.kind in fmt.kinds:
                for row in fmt.rows(record):
                    if row.keys() != fmt.columns:
                        raise RuntimeError(
                            f"{fmt.shape} row keys {sorted(row)} are not {sorted(fmt.columns)}"
                        )
                    given += 1
                    progress["rows"] += 1
                    yield finish(record, row)
            if given:
                counts_by_kind[record.kind] += 1
                category = None if fmt.per_annotation else category_of(record)
                if category is not None:
                    counts_by_category.setdefault(record.kind, Counter())[category] += 1
            else:
                if record.kind not in fmt.kinds:
                    reason = SKIP_KIND
                elif pass_fail and gives_label(record):
                    reason = label_skip_reason(record)
                else:
                    reason = pair_skip_reason(record)
                skipped[reason or "no_rows"] += 1
                skipped_by_kind[record.kind] += 1
            progress["records"] += 1
            if on_progress is not None and progress["records"] % progress_every == 0:
                on_progress(progress["records"], progress["rows"])

    stats: WriteStats
    written = row_filter.scan_stream(rows()) if encode_once else rows()  # type: ignore[union-attr]
    if fmt.container == "jsonl":
        stats = write_jsonl(written, fileobj)
    elif fmt.container == "json-array":
        stats = write_json_array(written, fileobj)
    else:
        from .schemas import parquet_schema

        stats = write_parquet(
            rows(),
            fileobj,
            schema=parquet_schema(fmt.shape, extra_columns=extra_columns),
            row_group_size=row_group_size,
        )
    if on_progress is not None:
        on_progress(progress["records"], progress["rows"])
    return ExportResult(
        format=fmt.name,
        shape=fmt.shape,
        rows=stats.rows,
        sha256=stats.sha256,
        bytes=stats.bytes,
        counts_by_kind=dict(counts_by_kind),
        counts_by_category={kind: dict(c) for kind, c in counts_by_category.items()},
        skipped=dict(skipped),
        skipped_by_kind=dict(skipped_by_kind),
    )
