"""Reading a project's annotations for a report: one snapshot, streamed rows, whole items.

Rows come from a server-side cursor ordered by item, carrying only the scalars a report uses
(the columns of :mod:`agreement.engine`: ``ITEM`` ... ``CORRECT``, then one per payload path
of the fields the kinds declare), so no JSON is decoded in
Python and memory does not grow with the number of annotations. :func:`batches` cuts them into
lists of whole items for :class:`agreement.engine.ReportBuilder`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import QuerySet
from django.db.models.fields.json import KT, KeyTextTransform, KeyTransform

from agreement.engine import ITEM
from annotation import kinds
from annotation.models import Annotation, Project
from core.db import snapshot, stream_rows

FETCH_CHUNK = 5_000  # rows per round trip of the server-side cursor
BATCH_ROWS = 20_000  # rows (whole items) processed at once

__all__ = ["snapshot"]  # one snapshot for the whole read (core.db), as before


def report_fields(project: Project) -> dict[str, list[kinds.AgreementField]]:
    """The fields each kind measures (annotation.kinds), with the values of open lists (a
    project's categories, say) that annotations used and the project's list no longer holds:
    a lead may have removed a value after it was used."""
    vocabulary = kinds.Vocabulary.of(project)
    declared = {kind.name: kind.agreement_fields(vocabulary, {}) for kind in kinds.registry}
    observed: dict[str, list[str]] = {}
    for kind_name, fields in declared.items():
        open_fields = [f for f in fields if f.open_values]
        if not open_fields:
            continue
        rows = (
            Annotation.objects.filter(project=project, item__is_gold=False, item__kind=kind_name)
            .order_by()
            .values_list(*(_payload_value(f.path) for f in open_fields))
            .distinct()
        )
        seen: list[set[str]] = [set() for _ in open_fields]
        for row in rows:
            for found, value in zip(seen, row, strict=True):
                if isinstance(value, str):
                    found.add(value)
        for field, found in zip(open_fields, seen, strict=True):
            extra = sorted(found - set(field.values))
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

    The tuples come straight from a server-side cursor, FETCH_CHUNK at a time, without
    Django's row iterator (half the read's time went there): every column is a plain value
    that needs no conversion."""
    queryset = annotation_rows_query(project, paths)
    if connection.vendor != "postgresql":
        yield from queryset.iterator(chunk_size=FETCH_CHUNK)
        return
    yield from stream_rows(*queryset.query.sql_with_params(), chunk=FETCH_CHUNK)


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
