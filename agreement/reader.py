"""Reading a project's annotations for a report: one snapshot, streamed rows, whole items.

The rows are ordered by item and carry only the scalars a report uses (the columns of
:mod:`agreement.engine`: ``ITEM`` ... ``CORRECT``, then one per payload path of the fields the
kinds declare), so no JSON is decoded in Python and memory does not grow with the number of
annotations. :func:`annotation_batches` hands them to
:class:`agreement.engine.ReportBuilder` as columns, in batches of whole items: on PostgreSQL
straight from ``COPY (the SELECT) TO STDOUT`` parsed by pyarrow's CSV reader into numpy
arrays, a block of rows at a time (no Python value per row: building those was most of the
report's time); on SQLite from tuples (:func:`annotation_rows`, :func:`batches`).
"""

from __future__ import annotations

import io
import math
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice, pairwise
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import QuerySet
from django.db.models.fields.json import KT, KeyTextTransform, KeyTransform

from agreement.engine import (
    ANNOTATOR,
    CORRECT,
    FIRST_VALUE,
    GOLD,
    ITEM,
    KIND,
    ORDER,
    SECONDS,
    Coded,
    Columns,
    whole_items,
)
from annotation import kinds
from annotation.models import Annotation, Project
from core.db import read_ahead, snapshot, stream_rows

FETCH_CHUNK = 5_000  # rows per message of the streamed query
BATCH_ROWS = 20_000  # rows (whole items) processed at once
COPY_BLOCK_ROWS = 20_000  # rows of COPY output parsed at once
COPY_READ_AHEAD = True  # read the next block in a helper thread while this one is counted
# Read through COPY on PostgreSQL (False: the streamed query of tuples, as on SQLite; kept
# for bench/agreement_report.py's comparison and the tests that check both give one report).
READ_WITH_COPY = True

__all__ = ["snapshot"]  # one snapshot for the whole read (core.db), as before


def report_fields(project: Project) -> dict[str, list[kinds.AgreementField]]:
    """The fields each kind measures (annotation.kinds), with the values of open lists (a
    project's categories, say) that annotations used and the project's list no longer holds:
    a lead may have removed a value after it was used."""
    vocabulary = kinds.Vocabulary.of(project)
    declared = {kind.name: kind.agreement_fields(vocabulary, {}) for kind in kinds.registry}
    open_fields = {
        name: [f for f in fields if f.open_values]
        for name, fields in declared.items()
        if any(f.open_values for f in fields)
    }
    if not open_fields:
        return declared
    # One scan for every kind (each kind's open fields read from its own rows).
    paths = list(dict.fromkeys(f.path for fields in open_fields.values() for f in fields))
    rows = (
        Annotation.objects.filter(
            project=project, item__is_gold=False, item__kind__in=list(open_fields)
        )
        .order_by()
        .values_list("item__kind", *(_payload_value(path) for path in paths))
        .distinct()
    )
    seen: dict[str, set[str]] = {f.key: set() for fields in open_fields.values() for f in fields}
    for kind_name, *values in rows:
        for field in open_fields.get(kind_name, ()):
            value = values[paths.index(field.path)]
            if isinstance(value, str):
                seen[field.key].add(value)
    observed: dict[str, list[str]] = {}
    for fields in open_fields.values():
        for field in fields:
            extra = sorted(seen[field.key] - set(field.values))
            if extra:
                observed[field.key] = extra
    if not observed:
        return declared
    return {kind.name: kind.agreement_fields(vocabulary, observed) for kind in kinds.registry}


def _payload_value(path: tuple[str, ...]) -> KeyTextTransform:
    """The payload's value at `path` as text (`payload ->> 'rating'`, `payload -> 'criteria'
    ->> 'honesty'`)."""
    if len(path) == 1:
        return KT(f"payload__{path[0]}")
    inner: Any = "payload"
    for key in path[:-1]:
        inner = KeyTransform(key, inner)
    return KeyTextTransform(path[-1], inner)


def annotation_rows_query(project: Project, paths: list[tuple[str, ...]]) -> QuerySet:
    """The SELECT ``annotation_rows`` streams (bench/agreement_report.py times a ``COPY`` of
    it as the floor of the report's read)."""
    return (
        Annotation.objects.filter(project=project)
        .order_by("item_id", "id")
        .values_list(
            "item_id",
            "annotator_id",
            "item__kind",
            "item__is_gold",
            "display_order",
            "seconds_spent",
            "gold_correct",
            *(_payload_value(path) for path in paths),
        )
    )


def annotation_rows(project: Project, paths: list[tuple[str, ...]]) -> Iterator[tuple]:
    """Every annotation of the project, ordered by item, with only the payload values at
    `paths` (agreement.engine's columns): as scalars, so no JSON is decoded in Python (texts
    such as responses are never read).

    The tuples come straight from a streamed query (core.db.stream_rows), without
    Django's row iterator (half the read's time went there): every column is a plain value
    that needs no conversion."""
    queryset = annotation_rows_query(project, paths)
    if connection.vendor != "postgresql":
        yield from queryset.iterator(chunk_size=FETCH_CHUNK)
        return
    yield from stream_rows(*queryset.query.sql_with_params(), chunk=FETCH_CHUNK)


def annotation_batches(project: Project, paths: list[tuple[str, ...]]) -> Iterator[Columns]:
    """Every annotation of the project, ordered by item, as columns in batches of whole items
    (agreement.engine.Columns), with the payload values at `paths`."""
    if connection.vendor == "postgresql" and READ_WITH_COPY:
        yield from whole_items(copied_columns(project, paths), BATCH_ROWS)
        return
    for batch in batches(annotation_rows(project, paths), BATCH_ROWS):
        yield Columns.of_rows(batch)


def copied_columns(project: Project, paths: list[tuple[str, ...]]) -> Iterator[Columns]:
    """The rows of ``annotation_rows_query`` through ``COPY ... TO STDOUT`` in CSV, parsed a
    block (COPY_BLOCK_ROWS) at a time by pyarrow into columns; an item's rows may straddle
    two blocks (``whole_items`` cuts them into the batches of ``batches``). PostgreSQL only.
    CSV rather than COPY's text format: its quoting keeps any category text (commas, quotes,
    newlines) whole, and tells an empty string (quoted) from NULL (nothing)."""
    import pyarrow as pa  # imported on first use: web processes never need it
    from pyarrow import csv

    text = pa.dictionary(pa.int32(), pa.string())  # few distinct values: each looked up once
    types = [pa.int64(), pa.int64(), text, pa.bool_(), text, pa.float64(), pa.bool_()]
    types += [text] * len(paths)
    names = [f"c{i}" for i in range(len(types))]
    parse = csv.ParseOptions(newlines_in_values=True)
    convert = csv.ConvertOptions(
        column_types=dict(zip(names, types, strict=True)),
        null_values=[""],  # unquoted: NULL; an empty string comes quoted
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["t"],
        false_values=["f"],
    )
    sql, params = annotation_rows_query(project, paths).query.sql_with_params()
    statement = f"COPY ({sql}) TO STDOUT (FORMAT csv, ENCODING 'UTF8')"
    connection.ensure_connection()
    with connection.cursor() as cursor, cursor.cursor.copy(statement, params) as copy:
        rows = iter(copy)  # one message per row

        def read() -> bytes:
            # Written out as they come (a loop in C, each message let go at once): faster
            # than joining a block's messages held all together.
            block = io.BytesIO()
            deque(map(block.write, islice(rows, COPY_BLOCK_ROWS)), maxlen=0)
            return block.getvalue()

        for block in read_ahead(read) if COPY_READ_AHEAD else iter(read, b""):
            # One block, one chunk per column (block_size beyond the block's length).
            options = csv.ReadOptions(
                column_names=names, block_size=len(block) + 1, use_threads=False
            )
            table = csv.read_csv(pa.py_buffer(block), options, parse, convert)
            col = [column.chunk(0) for column in table.columns]
            correct = _numbers(col[CORRECT], bool).astype(np.int8)  # 1 right, 0 wrong
            correct[_nulls(col[CORRECT])] = -1
            yield Columns(
                item=_numbers(col[ITEM], np.int64),
                annotator=_numbers(col[ANNOTATOR], np.int64),
                kind=_coded(col[KIND]),
                gold=_numbers(col[GOLD], bool),
                order=_coded(col[ORDER]),
                seconds=_numbers(col[SECONDS], np.float64, null=math.nan),
                correct=correct,
                values=tuple(_coded(array) for array in col[FIRST_VALUE:]),
            )


# pyarrow arrays to numpy through their buffers: pyarrow's own conversions import pandas (when
# installed, as with datasets), which costs a worker half a second and tens of MB.


def _bits(buffer: Any, offset: int, n: int) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(buffer, dtype=np.uint8), bitorder="little")
    return bits[offset : offset + n].astype(bool)


def _nulls(array: Any) -> np.ndarray:
    """True where the array is NULL."""
    validity = array.buffers()[0]
    if validity is None or array.null_count == 0:
        return np.zeros(len(array), dtype=bool)
    return ~_bits(validity, array.offset, len(array))


def _numbers(array: Any, dtype: Any, null: Any = 0) -> np.ndarray:
    """A boolean or numeric array's values (a copy), ``null`` where NULL."""
    data = array.buffers()[1]
    if dtype is bool:
        values = _bits(data, array.offset, len(array))
    else:
        width = np.dtype(dtype).itemsize
        values = np.frombuffer(data, dtype=dtype, count=len(array), offset=array.offset * width)
        values = values.copy()  # owned: a block's buffers are let go
    if array.null_count:
        values[_nulls(array)] = null
    return values


def _coded(array: Any) -> Coded:
    """A dictionary array of texts as engine.Coded."""
    words = array.dictionary
    _, offsets, data = words.buffers()
    ends = np.frombuffer(offsets, dtype=np.int32, count=len(words) + 1, offset=words.offset * 4)
    raw = memoryview(data) if data is not None else memoryview(b"")
    bounds = ends.tolist()
    labels = tuple(str(raw[a:b], "utf-8") for a, b in pairwise(bounds))
    return Coded(labels, _numbers(array.indices, np.int32, null=-1))


def batches(rows: Iterable[tuple], size: int) -> Iterator[list[tuple]]:
    """Lists of about ``size`` rows that never split an item's rows."""
    batch: list[tuple] = []
    current = None
    for row in rows:
        if row[ITEM] != current:
            if len(batch) >= size:
                yield batch
                batch = []
            current = row[ITEM]
        batch.append(row)
    if batch:
        yield batch


def usernames(user_ids: Iterable[int]) -> dict[int, str]:
    """The names a report gives its annotators, by user id."""
    User = get_user_model()
    return dict(User.objects.filter(pk__in=user_ids).values_list("pk", User.USERNAME_FIELD))
