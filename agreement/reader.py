"""Reading a project's annotations for a report: one snapshot, streamed rows, whole items.

Rows come from a server-side cursor ordered by item, carrying only the scalars a report uses
(the columns of :mod:`agreement.engine`, ``ITEM`` ... ``CRITERIA``), so no JSON is decoded in
Python and memory does not grow with the number of annotations. :func:`batches` cuts them into
lists of whole items for :class:`agreement.engine.ReportBuilder`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models.fields.json import KT, KeyTextTransform, KeyTransform

from agreement.engine import ITEM
from annotation import kinds
from annotation.models import Annotation, Project

FETCH_CHUNK = 5_000  # rows per round trip of the server-side cursor
BATCH_ROWS = 20_000  # rows (whole items) processed at once


@contextmanager
def snapshot() -> Iterator[None]:
    """On PostgreSQL, read everything from one snapshot (a read-only REPEATABLE READ
    transaction): the values listed first and the rows streamed after agree. SQLite is not
    wrapped (its transactions would block submits); a value missing from the lists is then
    left out with a note."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            # Every row is read: plan for the whole result, not for the first rows (a cursor's
            # default), and let the one big sort work in memory where it can.
            cursor.execute("SET LOCAL cursor_tuple_fraction = 1")
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute("SET LOCAL jit = off")
        yield


def observed_labels(project: Project) -> tuple[list[str], list[str]]:
    """Harm categories and instruction categories used in annotations: a lead may have
    removed a value from the project's lists after it was used."""
    rows = (
        Annotation.objects.filter(
            project=project,
            item__is_gold=False,
            item__kind__in=[kinds.REFUSAL, kinds.INSTRUCTION],
        )
        .order_by()
        .values_list("item__kind", KT("payload__harm_category"), KT("payload__category"))
        .distinct()
    )
    harm: set[str] = set()
    categories: set[str] = set()
    for kind, harm_category, category in rows:
        if kind == kinds.REFUSAL and isinstance(harm_category, str):
            harm.add(harm_category)
        elif kind == kinds.INSTRUCTION and isinstance(category, str):
            categories.add(category)
    return sorted(harm), sorted(categories)


def report_criteria(project: Project) -> list[str]:
    """The project's criteria, once each, in the order of the rows' criterion columns."""
    return list(dict.fromkeys(project.criteria))


def annotation_rows(project: Project) -> Iterator[tuple]:
    """Every annotation of the project, ordered by item, with only the payload keys used: as
    scalars, so no JSON is decoded in Python (texts such as responses are never read)."""
    criteria = [
        KeyTextTransform(name, KeyTransform("criteria", "payload"))
        for name in report_criteria(project)
    ]
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
            KT("payload__rating"),
            KT("payload__decision"),
            KT("payload__harm_category"),
            KT("payload__category"),
            *criteria,
        )
        .iterator(chunk_size=FETCH_CHUNK)
    )


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
