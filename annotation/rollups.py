"""The dashboard's rollups, kept by the writes they count, and their rebuilds.

* AnnotatorDay, submitted annotations per annotator and day: `activity_record` adds one
  annotation inside the submit's transaction.
* ItemTally, items per kind, status and gold flag: `tally_add` applies the changes of an
  import or of a status change, as the last statement of the caller's transaction.

Both add to their rows with one upsert (`INSERT ... ON CONFLICT ... DO UPDATE SET n = n + ...`,
on PostgreSQL and SQLite alike), so the first write of a key creates its row and concurrent
writers of one key queue on its row lock instead of losing an increment.

The `*_rebuild` functions recompute a rollup from the rows it counts: the migration that
introduced the tables, benchmarks that load rows with COPY, and a repair after data was changed
by hand (`manage.py rebuild_rollups`).
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.apps import apps as global_apps
from django.db import connection, models, transaction
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from annotation.models import Annotation, AnnotatorDay, Item, ItemTally


def _add(
    model: type[models.Model],
    keys: Sequence[str],
    counts: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Insert `rows` (the key columns, then the count columns); where a row of the same key
    exists, add the counts to it. Rows are written in the order given."""
    table, columns = model._meta.db_table, [*keys, *counts]
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 (names are the model's)
        f"VALUES {', '.join([placeholders] * len(rows))} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
        + ", ".join(f"{name} = {table}.{name} + EXCLUDED.{name}" for name in counts)
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])


def _replace(
    apps: Any,
    model_name: str,
    project_id: int | None,
    counted: QuerySet,
    make: Callable[[type[models.Model], dict[str, Any]], models.Model],
) -> int:
    """Replace the rows of a rollup (of one project, or all) by `make(model, row)` for each
    row of the aggregate `counted`. Returns the number of rows written."""
    model = apps.get_model("annotation", model_name)
    existing = model.objects.all()
    if project_id is not None:
        existing = existing.filter(project_id=project_id)
        counted = counted.filter(project_id=project_id)
    with transaction.atomic():
        existing.delete()
        created = model.objects.bulk_create(
            [make(model, row) for row in counted.order_by()], batch_size=2_000
        )
    return len(created)


# --- annotations per annotator and day -----------------------------------------------------------


def activity_record(*, annotation: Annotation) -> None:
    """Count a new annotation on its annotator's day (the day of `created_at` in TIME_ZONE)."""
    gold = annotation.gold_correct is not None
    _add(
        AnnotatorDay,
        ("project_id", "annotator_id", "day"),
        ("annotations", "gold_answers", "gold_correct"),
        [
            (
                annotation.project_id,
                annotation.annotator_id,
                timezone.localdate(annotation.created_at),
                1,
                int(gold),
                int(annotation.gold_correct is True),
            )
        ],
    )


def activity_rebuild(*, project_id: int | None = None, apps: Any = global_apps) -> int:
    """Recount AnnotatorDay from the annotations. `apps`: a migration's historical models."""
    counted = (
        apps.get_model("annotation", "Annotation")
        .objects.annotate(day=TruncDate("created_at"))
        .values("project_id", "annotator_id", "day")
        .annotate(
            n=Count("*"),
            gold=Count("gold_correct"),
            gold_ok=Count("gold_correct", filter=Q(gold_correct=True)),
        )
    )
    return _replace(
        apps,
        "AnnotatorDay",
        project_id,
        counted,
        lambda model, row: model(
            project_id=row["project_id"],
            annotator_id=row["annotator_id"],
            day=row["day"],
            annotations=row["n"],
            gold_answers=row["gold"],
            gold_correct=row["gold_ok"],
        ),
    )


# --- items per kind, status and gold flag --------------------------------------------------------

TallyKey = tuple[str, str, bool]  # kind, status, is_gold


def tally_add(*, project_id: int, changes: Mapping[TallyKey, int]) -> None:
    """Add `changes` to the project's item tallies in one upsert.

    Call it last in the transaction that made the changes: the rows stay locked until the
    commit. The rows are written in key order, so two transactions never wait on each other
    in a cycle."""
    rows = [(project_id, *key, n) for key, n in sorted(changes.items()) if n]
    if rows:
        _add(ItemTally, ("project_id", "kind", "status", "is_gold"), ("count",), rows)


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
    """Recount ItemTally from the items. `apps`: a migration's historical models."""
    counted = (
        apps.get_model("annotation", "Item")
        .objects.values("project_id", "kind", "status", "is_gold")
        .annotate(n=Count("*"))
    )
    return _replace(
        apps,
        "ItemTally",
        project_id,
        counted,
        lambda model, row: model(
            project_id=row["project_id"],
            kind=row["kind"],
            status=row["status"],
            is_gold=row["is_gold"],
            count=row["n"],
        ),
    )
