"""Importing items: create or update by external_id, all or nothing, at COPY speed.

Bodies are parsed into rows in annotation.parsing; this module validates every row (through
the kinds), reports every problem at once or writes everything in one transaction, keeps the
duplicate flags and the item tally, and audits the import.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.apps import apps as global_apps
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.utils import timezone

from annotation import kinds
from annotation.events import ItemsImported
from annotation.models import Assignment, Item, ItemStatus, Project
from annotation.rollups import tally_add
from core import db, events, jsonutil
from core.audit import audit_record
from core.errors import ApplicationError, Conflict
from core.registry import Registry


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # {index, external_id, duplicate_of, duplicate_index}: an item of this request with the
    # same content as another of it (duplicate_index) or as a stored one (duplicate_index None).
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    # Filled by the import checks (hygiene): near-duplicate groups that hold an item of this
    # import, and items of it with personal data by type.
    near_duplicates: list[dict[str, Any]] = field(default_factory=list)
    personal_data: dict[str, int] = field(default_factory=dict)


class ImportCheck(Protocol):
    def __call__(
        self, *, project: Project, item_ids: list[int], result: ImportResult | None
    ) -> None: ...


# Checks another app runs on the items an import created or whose content it changed, inside
# the import's transaction (so a failing check writes nothing), adding to the result: hygiene
# groups near-duplicate prompts and scans for personal data. Registered when that app is ready.
import_checks: Registry[ImportCheck] = Registry("import check")


_FETCH_BATCH = 5_000
_WRITE_BATCH = 2_000


# Routers decide, before the rows are written, where new items (and items whose content an
# import changes) go: an app above this one (routing) registers one when it is ready. A router
# gets the project and the row dicts and may set `route`, `route_rule` and `status`
# ("approved": the import writes the item approved; the ItemsImported event names it, and a
# subscriber writes its final record in the import's transaction).
Router = Callable[[Project, list[dict[str, Any]]], None]
_routers: list[Router] = []


def router_register(function: Router) -> Router:
    if function not in _routers:
        _routers.append(function)
    return function


def _content_hash_key(item: kinds.CleanItem) -> list[Any]:
    """What an import may not change once annotated. An item without a prediction, source or
    signal keeps the hash it had before items carried them."""
    key: list[Any] = [item.kind, item.data, item.gold]
    if item.prediction is not None or item.source != "curated" or item.signal:
        key += [item.prediction, item.source, item.signal]
    return key


def _row_error(index: int, row: Any, field_name: str, message: str) -> dict[str, Any]:
    external_id = row.get("external_id") if isinstance(row, dict) else None
    if not isinstance(external_id, str | int) or isinstance(external_id, bool):
        external_id = None
    return {"index": index, "external_id": external_id, "field": field_name, "message": message}


def item_import(
    *,
    project: Project,
    rows: Sequence[Any],
    actor: Any,
    on_progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Create or update items by external_id, all or nothing.

    Every invalid row is reported (index, external_id, field, message) and nothing is written.
    An identical re-push is `unchanged`; changed data updates an item only while it has no
    annotation and no active lease; metadata and priority may change at any time.
    """
    vocabulary = kinds.Vocabulary.of(project)
    errors: list[dict[str, Any]] = []
    clean: list[tuple[int, kinds.CleanItem]] = []
    first_index: dict[str, int] = {}
    for index, row in enumerate(rows):
        item, row_errors = kinds.validate_item_row(row, vocabulary)
        errors.extend(_row_error(index, row, e["field"], e["message"]) for e in row_errors)
        if item is None:
            continue
        if item.external_id in first_index:
            errors.append(
                _row_error(
                    index,
                    row,
                    "external_id",
                    "Duplicate external_id in this request: also at index "
                    f"{first_index[item.external_id]}.",
                )
            )
            continue
        first_index[item.external_id] = index
        clean.append((index, item))
    if errors:
        raise _invalid(errors)

    try:
        with transaction.atomic():
            result = _import_clean(project, clean, first_index, actor, on_progress)
    except IntegrityError:
        raise Conflict(
            "Another import wrote some of these external_ids at the same time; "
            "nothing from this request was written. Send it again."
        ) from None
    return result


def _import_clean(
    project: Project,
    clean: list[tuple[int, kinds.CleanItem]],
    first_index: dict[str, int],
    actor: Any,
    on_progress: Callable[[int], None] | None,
) -> ImportResult:
    existing = _existing_items(project, [item.external_id for _, item in clean])
    result = ImportResult()
    errors: list[dict[str, Any]] = []
    to_create: list[dict[str, Any]] = []
    to_update: list[dict[str, Any]] = []
    hashes: dict[str, tuple[int, str]] = {}
    shared: set[str] = set()  # content hashes that two or more items hold after this import
    for index, item in clean:
        row = {
            "external_id": item.external_id,
            "kind": item.kind,
            "data": item.data,
            "metadata": item.metadata,
            "priority": item.priority,
            "split": item.split or kinds.split_for(item.external_id, project.eval_fraction),
            "is_gold": item.gold is not None,
            "gold": item.gold,
            "content_hash": kinds.content_hash(item.kind, item.data),
            "data_hash": kinds.json_hash(_content_hash_key(item)),
            "metadata_hash": kinds.json_hash(item.metadata),
            "prediction": item.prediction,
            "certainty": item.certainty,
            "source": item.source,
            "signal": item.signal,
            "route": "",
            "route_rule": "",
            "status": ItemStatus.OPEN.value,
        }
        digest = row["content_hash"]
        if digest in hashes:
            shared.add(digest)
            other_index, other_id = hashes[digest]
            result.duplicates.append(
                {
                    "index": index,
                    "external_id": item.external_id,
                    "duplicate_of": other_id,
                    "duplicate_index": other_index,
                }
            )
        else:
            hashes[digest] = (index, item.external_id)
        current = existing.get(item.external_id)
        if current is None:
            to_create.append(row)
            continue
        if item.split is None:
            row["split"] = current["split"]  # keep an earlier explicit split
        locked = [f for f in ("data_hash", "split") if current[f] != row[f]]
        free = [f for f in ("metadata_hash", "priority") if current[f] != row[f]]
        if not locked and not free:
            result.unchanged += 1
            continue
        row["id"], row["locked_change"] = current["id"], bool(locked)
        if locked and (
            current["submitted_count"]
            or current["active_count"]
            or current["status"] not in (ItemStatus.OPEN, ItemStatus.STALLED)
        ):
            errors.append(_locked_error(index, item.external_id, locked))
            continue
        row["status"] = current["status"]
        if not locked:  # only metadata or priority: where it went stays as it was
            row["route"], row["route_rule"] = current["route"], current["route_rule"]
        to_update.append(row)
    errors.extend(_items_taken_meanwhile(to_update, first_index))
    if errors:
        raise _invalid(sorted(errors, key=lambda e: e["index"]))

    result.duplicates.extend(_duplicates_in_project(project, hashes, first_index, shared))
    result.duplicates.sort(key=lambda d: d["index"])
    routed = to_create + [row for row in to_update if row["locked_change"]]
    for route in _routers:
        route(project, routed)
    for start in range(0, len(to_create), _WRITE_BATCH):
        _insert_items(project, to_create[start : start + _WRITE_BATCH])
        if on_progress:
            on_progress(min(start + _WRITE_BATCH, len(to_create)))
    if to_update:
        now = timezone.now()
        Item.objects.bulk_update(
            [Item(pk=row["id"], updated_at=now, **_model_values(row)) for row in to_update],
            ["updated_at", *_UPDATABLE],
            batch_size=500,
        )
        # The claim orders partly annotated items by the priority kept on their waiting
        # assignments (annotation/queue_sql.py): a new priority reaches them too.
        Assignment.objects.filter(
            item_id__in=[row["id"] for row in to_update], queue_pending=True
        ).exclude(queue_priority=F("item__priority")).update(
            queue_priority=Subquery(
                Item.objects.filter(pk=OuterRef("item_id")).values("priority")[:1]
            )
        )
    # Recount the flags only where they can change: contents now shared, and the old and new
    # contents of updated items whose content changed (their flag moves with them). Usually
    # none of either, so this costs nothing.
    for row in to_update:
        before = existing[row["external_id"]]["content_hash"]
        if before != row["content_hash"]:
            shared.update((before, row["content_hash"]))
    if shared:
        duplicates_refresh(project_id=project.pk, hashes=sorted(shared))
    result.created, result.updated = len(to_create), len(to_update)
    _run_import_checks(project, to_create, to_update, existing, result)
    audit_record(
        actor=actor,
        action="items.import",
        obj=project,
        project=project,
        after={
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "duplicates": len(result.duplicates),
            "updated_external_ids": [row["external_id"] for row in to_update[:100]],
        },
    )
    events.announce(
        ItemsImported(
            project_id=project.pk,
            created=result.created,
            updated=result.updated,
            routed=_route_counts(routed),
            approved=tuple(
                row["external_id"] for row in routed if row["status"] == ItemStatus.APPROVED
            ),
        )
    )
    tally_add(project_id=project.pk, changes=_tally_changes(to_create, to_update, existing))
    return result


def _route_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """How many rows went where, by "route:rule" (the audit of the routing decisions)."""
    counts: dict[str, int] = {}
    for row in rows:
        if row["route"]:
            key = f"{row['route']}:{row['route_rule']}"
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _run_import_checks(
    project: Project,
    to_create: list[dict[str, Any]],
    to_update: list[dict[str, Any]],
    existing: dict[str, dict[str, Any]],
    result: ImportResult,
) -> None:
    if not len(import_checks):
        return
    external_ids = [row["external_id"] for row in to_create]
    external_ids += [
        row["external_id"]
        for row in to_update
        if existing[row["external_id"]]["content_hash"] != row["content_hash"]
        or row["locked_change"]
    ]
    if not external_ids:
        return
    item_ids: list[int] = []
    for start in range(0, len(external_ids), _FETCH_BATCH):
        item_ids.extend(
            Item.objects.filter(
                project=project, external_id__in=external_ids[start : start + _FETCH_BATCH]
            ).values_list("id", flat=True)
        )
    import_checks_run(project=project, item_ids=item_ids, result=result)


def import_checks_run(
    *, project: Project, item_ids: list[int], result: ImportResult | None = None
) -> None:
    """The registered import checks (hygiene: near-duplicate groups, personal data) over
    items whose data is new: an import's, or one item a lead edited (``result`` None)."""
    for check in import_checks:
        check(project=project, item_ids=sorted(item_ids), result=result)


def _tally_changes(
    to_create: list[dict[str, Any]],
    to_update: list[dict[str, Any]],
    existing: dict[str, dict[str, Any]],
) -> dict[tuple[str, str, bool], int]:
    """New items are open (or approved by a router); an update may change an item's kind or
    gold flag, and a router its status."""
    changes: dict[tuple[str, str, bool], int] = {}
    for row in to_create:
        key = (row["kind"], row["status"], row["is_gold"])
        changes[key] = changes.get(key, 0) + 1
    for row in to_update:
        old = existing[row["external_id"]]
        before = (old["kind"], old["status"], old["is_gold"])
        after = (row["kind"], row["status"], row["is_gold"])
        if before != after:
            changes[before] = changes.get(before, 0) - 1
            changes[after] = changes.get(after, 0) + 1
    return changes


_UPDATABLE = (
    "kind",
    "data",
    "metadata",
    "priority",
    "split",
    "is_gold",
    "gold",
    "content_hash",
    "data_hash",
    "metadata_hash",
    "prediction",
    "certainty",
    "source",
    "signal",
    "route",
    "route_rule",
    "status",
)


def _model_values(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in _UPDATABLE}


def _locked_error(index: int, external_id: str, locked: list[str]) -> dict[str, Any]:
    field_name = "data" if "data_hash" in locked else "split"
    return _row_error(
        index,
        {"external_id": external_id},
        field_name,
        "The item already has annotations, an active lease or a decision, so its kind, data, "
        "gold, prediction and split can no longer change (metadata and priority can).",
    )


def _items_taken_meanwhile(
    to_update: list[dict[str, Any]], first_index: dict[str, int]
) -> list[dict[str, Any]]:
    """Lock the items whose data will change and re-check them: a claim that committed since
    they were read makes the change an error; a claim that comes later skips the locked row."""
    ids = [row["id"] for row in to_update if row["locked_change"]]
    if not ids:
        return []
    taken = (
        Item.objects.select_for_update()
        .filter(pk__in=ids)
        .filter(Q(submitted_count__gt=0) | Q(active_count__gt=0))
        .values_list("external_id", flat=True)
    )
    return [
        _locked_error(first_index[external_id], external_id, ["data_hash"]) for external_id in taken
    ]


_COPY_COLUMNS = (
    "project_id",
    "external_id",
    "kind",
    "data",
    "metadata",
    "priority",
    "split",
    "is_gold",
    "gold",
    "content_hash",
    "data_hash",
    "metadata_hash",
    "prediction",
    "certainty",
    "source",
    "signal",
    "route",
    "route_rule",
    "status",
    "agreement",
    "review_reason",
    "submitted_count",
    "active_count",
    "created_at",
    "updated_at",
)


def _insert_items(project: Project, rows: list[dict[str, Any]]) -> None:
    """Insert new items: PostgreSQL COPY (the ORM's INSERT costs several times more per row
    in Python), or bulk_create elsewhere. Inside the caller's transaction either way."""
    if connection.vendor != "postgresql":
        Item.objects.bulk_create(
            [
                Item(project=project, external_id=row["external_id"], **_model_values(row))
                for row in rows
            ]
        )
        return
    from psycopg.types.json import Jsonb

    def jsonb(value: Any) -> Jsonb:
        return Jsonb(value, dumps=jsonutil.dumps)

    now = timezone.now()
    sql = f"COPY {Item._meta.db_table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN"
    # Django wraps the driver's errors for its own cursors only: a unique violation raised by
    # COPY (another import wrote the same external_id first) must reach the caller as Django's
    # IntegrityError, which item_import answers with a 409.
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(sql) as copy,
    ):
        for row in rows:
            copy.write_row(
                (
                    project.pk,
                    row["external_id"],
                    row["kind"],
                    jsonb(row["data"]),
                    jsonb(row["metadata"]),
                    row["priority"],
                    row["split"],
                    row["is_gold"],
                    None if row["gold"] is None else jsonb(row["gold"]),
                    row["content_hash"],
                    row["data_hash"],
                    row["metadata_hash"],
                    None if row["prediction"] is None else jsonb(row["prediction"]),
                    row["certainty"],
                    row["source"],
                    row["signal"],
                    row["route"],
                    row["route_rule"],
                    row["status"],
                    "",
                    "",
                    0,
                    0,
                    now,
                    now,
                )
            )


def _invalid(errors: list[dict[str, Any]]) -> ApplicationError:
    first = errors[0]
    return ApplicationError(
        f"{len(errors)} problem(s) in the items; nothing was written. First: item {first['index']}"
        f" {first['field']}: {first['message']}",
        {"errors": errors},
    )


_EXISTING_FIELDS = (
    "external_id",
    "id",
    "kind",
    "status",
    "is_gold",
    "content_hash",
    "submitted_count",
    "active_count",
    "priority",
    "split",
    "data_hash",
    "metadata_hash",
    "route",
    "route_rule",
)


def _existing_items(project: Project, external_ids: list[str]) -> dict[str, dict[str, Any]]:
    """What is stored under these external_ids, compared through hashes, not the JSON."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(external_ids), _FETCH_BATCH):
        condition, params = db.member_of("external_id", external_ids[start : start + _FETCH_BATCH])
        columns, table = ", ".join(_EXISTING_FIELDS), Item._meta.db_table
        sql = f"SELECT {columns} FROM {table} WHERE project_id = %s AND {condition}"  # noqa: S608
        rows = db.fetch_all(sql, [project.pk, *params])
        for row in rows:
            found[row[0]] = dict(zip(_EXISTING_FIELDS, row, strict=True))
    return found


def duplicates_refresh(
    *, project_id: int, hashes: Sequence[str] | None = None, apps: Any = global_apps
) -> None:
    """Set `has_duplicate` on the project's items whose content hash is among `hashes` (all
    its items when None): true where two or more items share the hash.

    The import calls this with the hashes it wrote and replaced, inside its transaction. Two
    imports that add the same new content at the same moment do not see each other's rows
    (READ COMMITTED), just as their duplicate reports do not: the next import that touches
    that content, or a call with hashes=None, sets the flag. `apps` lets a migration pass its
    historical models."""
    items = apps.get_model("annotation", "Item").objects.filter(project_id=project_id)
    chunks: list[Sequence[str] | None] = [None]
    if hashes is not None:
        chunks = [
            hashes[start : start + _WRITE_BATCH] for start in range(0, len(hashes), _WRITE_BATCH)
        ]
    for chunk in chunks:
        scope = items if chunk is None else items.filter(content_hash__in=chunk)
        # Read the shared hashes first (an index-only scan of item_content_hash), then write
        # only rows whose flag changes: a flag to set is found by its hash, a flag to clear
        # through the partial item_duplicates index.
        shared = list(
            scope.values_list("content_hash", flat=True)
            .annotate(n=Count("*"))
            .filter(n__gt=1)
            .order_by()
        )
        for start in range(0, len(shared), _WRITE_BATCH):
            items.filter(
                content_hash__in=shared[start : start + _WRITE_BATCH], has_duplicate=False
            ).update(has_duplicate=True)
        stale = scope.filter(has_duplicate=True)
        if chunk is None:
            # Every hash of the project: compare in Python instead of a long NOT IN list.
            keep = set(shared)
            stale_ids = [
                pk for pk, digest in stale.values_list("pk", "content_hash") if digest not in keep
            ]
            for start in range(0, len(stale_ids), _WRITE_BATCH):
                items.filter(pk__in=stale_ids[start : start + _WRITE_BATCH]).update(
                    has_duplicate=False
                )
        else:
            stale.exclude(content_hash__in=shared).update(has_duplicate=False)


def _duplicates_in_project(
    project: Project,
    hashes: dict[str, tuple[int, str]],
    first_index: dict[str, int],
    shared: set[str],
) -> list[dict[str, Any]]:
    """Items of this request whose content matches an item already stored under another id.
    Adds the content hashes stored under another id to `shared`."""
    out = []
    digests = list(hashes)
    for start in range(0, len(digests), _FETCH_BATCH):
        chunk = digests[start : start + _FETCH_BATCH]
        condition, params = db.member_of("content_hash", chunk)
        table = Item._meta.db_table
        sql = (
            f"SELECT content_hash, external_id FROM {table} "  # noqa: S608
            f"WHERE project_id = %s AND {condition} ORDER BY id"
        )
        rows = db.fetch_all(sql, [project.pk, *params])
        reported: set[str] = set()
        for digest, other_id in rows:
            index, external_id = hashes[digest]
            if other_id != external_id:
                shared.add(digest)
            # The item itself, or one of this request (reported above as within the request).
            if digest in reported or other_id == external_id or other_id in first_index:
                continue
            reported.add(digest)
            out.append(
                {
                    "index": index,
                    "external_id": external_id,
                    "duplicate_of": other_id,
                    "duplicate_index": None,
                }
            )
    return out
