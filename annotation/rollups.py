"""The dashboard's rollups, kept by the writes they count, and their rebuilds.

* AnnotatorDay, submitted annotations per annotator and day: `activity_record` adds one
  annotation inside the submit's transaction (an upsert on (project, annotator, day)).
* ItemTally, items per kind, status and gold flag: `tally_add` applies the changes of an
  import or of a status change, as the last statement of the caller's transaction.

The `*_rebuild` functions recompute a rollup from the rows it counts: the migration that
introduced the tables, benchmarks that load rows with COPY, and a repair after data was changed
by hand (`manage.py rebuild_rollups`).
"""

from collections.abc import Mapping
from typing import Any

from django.apps import apps as global_apps
from django.db import connection, transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from annotation.models import Annotation, AnnotatorDay, Item, ItemTally


def activity_record(*, annotation: Annotation) -> None:
    """Count a new annotation on its annotator's day (the day of `created_at` in TIME_ZONE)."""
    table = AnnotatorDay._meta.db_table
    gold = annotation.gold_correct is not None
    sql = (
        f"INSERT INTO {table} "  # noqa: S608 (the table name is the model's)
        "(project_id, annotator_id, day, annotations, gold_answers, gold_correct) "
        "VALUES (%s, %s, %s, 1, %s, %s) "
        "ON CONFLICT (project_id, annotator_id, day) DO UPDATE SET "
        f"annotations = {table}.annotations + 1, "
        f"gold_answers = {table}.gold_answers + EXCLUDED.gold_answers, "
        f"gold_correct = {table}.gold_correct + EXCLUDED.gold_correct"
    )
    params = [
        annotation.project_id,
        annotation.annotator_id,
        timezone.localdate(annotation.created_at),
        int(gold),
        int(annotation.gold_correct is True),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


TallyKey = tuple[str, str, bool]  # kind, status, is_gold


def tally_add(*, project_id: int, changes: Mapping[TallyKey, int]) -> None:
    """Add `changes` to the project's item tallies in one upsert.

    Call it last in the transaction that made the changes: the rows stay locked until the
    commit. The rows are written in key order, so two transactions never wait on each other
    in a cycle."""
    rows = sorted((key, n) for key, n in changes.items() if n)
    if not rows:
        return
    table = ItemTally._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    sql = (
        f"INSERT INTO {table} (project_id, kind, status, is_gold, count) "  # noqa: S608
        f"VALUES {values} ON CONFLICT (project_id, kind, status, is_gold) "
        f"DO UPDATE SET count = {table}.count + EXCLUDED.count"
    )
    params: list[Any] = []
    for (kind, status, is_gold), n in rows:
        params += [project_id, kind, status, is_gold, n]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def tally_move(*, item: Item, before: str) -> None:
    """Count `item` under its current status instead of `before`."""
    if before != item.status:
        tally_add(
            project_id=item.project_id,
            changes={
                (item.kind, before, item.is_gold): -1,
                (item.kind, item.status, item.is_gold): 1,
            },
        )


def tally_rebuild(*, project_id: int | None = None, apps: Any = global_apps) -> int:
    """Replace the tallies of one project (or of all) by a count of its items."""
    items = apps.get_model("annotation", "Item").objects.all()
    tallies = apps.get_model("annotation", "ItemTally")
    existing = tallies.objects.all()
    if project_id is not None:
        items = items.filter(project_id=project_id)
        existing = existing.filter(project_id=project_id)
    rows = items.values("project_id", "kind", "status", "is_gold").annotate(n=Count("*"))
    with transaction.atomic():
        existing.delete()
        created = tallies.objects.bulk_create(
            [
                tallies(
                    project_id=row["project_id"],
                    kind=row["kind"],
                    status=row["status"],
                    is_gold=row["is_gold"],
                    count=row["n"],
                )
                for row in rows.order_by()
            ]
        )
    return len(created)


def activity_rebuild(*, project_id: int | None = None, apps: Any = global_apps) -> int:
    """Replace the rows of one project (or of all) by a count of its annotations; returns the
    number of rows written. `apps` lets a migration pass its historical models."""
    annotations = apps.get_model("annotation", "Annotation").objects.all()
    days = apps.get_model("annotation", "AnnotatorDay")
    existing = days.objects.all()
    if project_id is not None:
        annotations = annotations.filter(project_id=project_id)
        existing = existing.filter(project_id=project_id)
    rows = (
        annotations.annotate(day=TruncDate("created_at"))
        .values("project_id", "annotator_id", "day")
        .annotate(
            n=Count("*"),
            gold=Count("gold_correct"),
            gold_ok=Count("gold_correct", filter=Q(gold_correct=True)),
        )
        .order_by()
    )
    with transaction.atomic():
        existing.delete()
        created = days.objects.bulk_create(
            [
                days(
                    project_id=row["project_id"],
                    annotator_id=row["annotator_id"],
                    day=row["day"],
                    annotations=row["n"],
                    gold_answers=row["gold"],
                    gold_correct=row["gold_ok"],
                )
                for row in rows
            ],
            batch_size=2_000,
        )
    return len(created)
