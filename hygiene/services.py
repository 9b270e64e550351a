"""Keeping each item's hygiene checks: its near-duplicate group and its personal data.

``items_check`` runs inside an import's transaction on the items it created or changed (the
import check registered with annotation.importing); ``project_scan`` recomputes a whole
project (``manage.py hygiene_scan``), e.g. for items imported before this app existed.

Near-duplicate groups at import are found incrementally: the new prompts' LSH band keys are
looked up among the stored ones (an index on (project, key)), candidates are verified by
exact Jaccard, and groups they touch are merged; a group is named by its smallest item id.
An item whose prompt an import (or a lead's edit) changes leaves its old group (the others
stay grouped under the old name until the next ``hygiene_scan``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Min

from annotation.importing import ImportResult
from annotation.kinds import prompt_text
from annotation.models import Item, Project
from hygiene import neardup
from hygiene.models import ItemCheck, PromptBand
from hygiene.pii import Scanner

KEY_BATCH = 5_000  # band keys per lookup query
WRITE_BATCH = 5_000
READ_BATCH = 5_000
GROUPS_REPORTED = 100  # near-duplicate groups listed in an import's result
EXTERNAL_IDS_PER_GROUP = 10


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def personal_data_types(data: Any, scanner: Scanner) -> list[str]:
    """The personal data types found in any string of an item's data, sorted."""
    found: set[str] = set()
    for text in _strings(data):
        found.update(finding.type for finding in scanner.scan(text))
    return sorted(found)


def _scanner() -> Scanner:
    return Scanner(region=getattr(settings, "RUBRIC_PHONE_REGION", "US"))


def _write_bands(project_id: int, item_ids: Sequence[int], keys: Any) -> None:
    rows = (
        (project_id, item_id, key)
        for item_id, row in zip(item_ids, keys.tolist(), strict=True)
        for key in row
        if key
    )
    _copy(PromptBand, ("project_id", "item_id", "key"), rows)


def _write_checks(checks: list[ItemCheck]) -> None:
    from psycopg.types.json import Jsonb

    json = Jsonb if connection.vendor == "postgresql" else (lambda value: value)
    rows = (
        (c.item_id, c.project_id, c.near_group, json(c.personal_data), c.has_personal_data)
        for c in checks
    )
    columns = ("item_id", "project_id", "near_group", "personal_data", "has_personal_data")
    _copy(ItemCheck, columns, rows)


def _copy(model: Any, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    """Insert rows: PostgreSQL COPY (an import writes ten band rows per item: the ORM's
    INSERTs would cost more than the import itself), bulk_create elsewhere."""
    if connection.vendor != "postgresql":
        objects = (model(**dict(zip(columns, row, strict=True))) for row in rows)
        model.objects.bulk_create(objects, batch_size=WRITE_BATCH)
        return
    sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    # Within Django's error wrapper: a lost connection during COPY (psycopg's own error, on
    # its raw cursor) reaches the middleware as Django's OperationalError, a 503.
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(sql) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _stored_candidates(
    project: Project, new_positions: dict[int, list[int]]
) -> set[tuple[int, int]]:
    """(position of a new item, stored item id) pairs to verify: the pairs ``neardup.group``
    would take from each run of equal band keys, the run being the stored items holding the
    key (in id order) followed by the new ones. A run of at most ``neardup.FULL_RUN`` items:
    every new item against every stored one. A larger run (a template many prompts follow):
    every new item against the run's first (the star) and the first new item against the
    last stored (the chain; the chain among the new items is ``candidate_pairs``'). So a
    key that ten thousand stored prompts share costs one pair per new item, not ten
    thousand; ``new_positions`` maps each key to its new items' positions, ascending."""
    runs: dict[int, tuple[int, int, int]] = {}  # key -> (stored items, first id, last id)
    wanted = sorted(new_positions)
    for start in range(0, len(wanted), KEY_BATCH):
        found = (
            PromptBand.objects.filter(project=project, key__in=wanted[start : start + KEY_BATCH])
            .values("key")
            .annotate(n=Count("id"), first=Min("item_id"), last=Max("item_id"))
            .values_list("key", "n", "first", "last")
        )
        runs.update((key, (n, first, last)) for key, n, first, last in found)
    candidates: set[tuple[int, int]] = set()
    small = []
    for key, (n, first, last) in runs.items():
        positions = new_positions[key]
        if n + len(positions) <= neardup.FULL_RUN:
            small.append(key)
            continue
        candidates.update((position, first) for position in positions)
        candidates.add((positions[0], last))
    for start in range(0, len(small), KEY_BATCH):
        found = PromptBand.objects.filter(project=project, key__in=small[start : start + KEY_BATCH])
        for key, stored_id in found.values_list("key", "item_id"):
            candidates.update((position, stored_id) for position in new_positions[key])
    return candidates


def _store_checks(
    project: Project, rows: list[tuple[int, Any]], group_of: dict[int, int], keys: Any
) -> tuple[dict[str, int], int]:
    """Write the rows' items' checks (their near-duplicate group from ``group_of``, the
    personal data their data holds) and their band keys (``keys``, row for row). Returns the
    items found holding each personal data type, and how many hold any."""
    scanner = _scanner()
    checks = []
    personal: dict[str, int] = {}
    for item_id, data in rows:
        found = personal_data_types(data, scanner)
        for kind in found:
            personal[kind] = personal.get(kind, 0) + 1
        checks.append(
            ItemCheck(
                item_id=item_id,
                project=project,
                near_group=group_of.get(item_id),
                personal_data=found,
                has_personal_data=bool(found),
            )
        )
    _write_checks(checks)
    _write_bands(project.pk, [item_id for item_id, _ in rows], keys)
    return personal, sum(check.has_personal_data for check in checks)


def items_check(*, project: Project, item_ids: list[int], result: ImportResult | None) -> None:
    """Check the given items of the project (new, or their data changed): group their prompts
    with near-duplicates among themselves and the project's other items, and record the
    personal data their data holds. Adds what it found to the import's ``result``."""
    if not item_ids:
        return
    rows = []
    for start in range(0, len(item_ids), READ_BATCH):
        rows.extend(
            Item.objects.filter(project=project, pk__in=item_ids[start : start + READ_BATCH])
            .order_by("id")
            .values_list("id", "data")
        )
    ids = [item_id for item_id, _ in rows]
    texts = [prompt_text(data) for _, data in rows]
    keys = neardup.band_keys(texts)
    PromptBand.objects.filter(project=project, item_id__in=ids).delete()
    ItemCheck.objects.filter(project=project, item_id__in=ids).delete()

    # Stored items sharing a band key with a new prompt.
    new_positions: dict[int, list[int]] = {}
    for position, row in enumerate(keys.tolist()):
        for key in row:
            if key:
                new_positions.setdefault(key, []).append(position)
    candidates = _stored_candidates(project, new_positions)
    stored_ids = sorted({stored for _, stored in candidates})
    stored_shingles: dict[int, frozenset[bytes]] = {}
    for start in range(0, len(stored_ids), READ_BATCH):
        chunk = stored_ids[start : start + READ_BATCH]
        for item_id, data in Item.objects.filter(pk__in=chunk).values_list("id", "data"):
            stored_shingles[item_id] = neardup.shingle_set(prompt_text(data))
    new_shingles = [neardup.shingle_set(text) for text in texts]

    threshold = project.near_duplicate_threshold
    union = neardup.UnionFind()
    for position, stored_id in candidates:
        if neardup.jaccard(new_shingles[position], stored_shingles[stored_id]) >= threshold:
            union.union(ids[position], stored_id)
    for i, j in neardup.candidate_pairs(keys).tolist():
        if neardup.jaccard(new_shingles[i], new_shingles[j]) >= threshold:
            union.union(ids[i], ids[j])
    linked_stored = [i for i in stored_ids if i in union.parent]
    old_groups = dict(
        ItemCheck.objects.filter(item_id__in=linked_stored).values_list("item_id", "near_group")
    )
    for item_id, group in old_groups.items():
        if group is not None:
            union.union(item_id, int(group))

    group_of: dict[int, int] = {}
    renamed: dict[int, int] = {}  # an old group's name -> the merged group's
    for members in union.groups():
        name = members[0]
        for member in members:
            group_of[member] = name
    new_ids = set(ids)
    for item_id, group in old_groups.items():
        if group is not None and group_of.get(item_id, group) != group:
            renamed[int(group)] = group_of[item_id]
    for old, new in renamed.items():
        ItemCheck.objects.filter(project=project, near_group=old).update(near_group=new)
    # Stored items that had no group join one: one UPDATE per group, and a check row for
    # an item imported before this app (which has none).
    joining: dict[int, list[int]] = {}
    for item_id in linked_stored:
        if old_groups.get(item_id) is None:
            joining.setdefault(group_of[item_id], []).append(item_id)
    for name, members in joining.items():
        ItemCheck.objects.filter(project=project, item_id__in=members).update(near_group=name)
    unchecked = [item_id for item_id in linked_stored if item_id not in old_groups]
    ItemCheck.objects.bulk_create(
        ItemCheck(item_id=item_id, project=project, near_group=group_of[item_id])
        for item_id in unchecked
    )

    personal, _ = _store_checks(project, rows, group_of, keys)
    if result is not None:
        touched = sorted({group_of[i] for i in new_ids if i in group_of})
        result.near_duplicates = near_group_report(project=project, groups=touched)
        result.personal_data = dict(sorted(personal.items()))


def near_group_report(*, project: Project, groups: list[int]) -> list[dict[str, Any]]:
    """``{group, size, external_ids}`` of the first ``GROUPS_REPORTED`` groups named."""
    groups = groups[:GROUPS_REPORTED]
    if not groups:
        return []
    sizes = dict(
        ItemCheck.objects.filter(project=project, near_group__in=groups)
        .values("near_group")
        .annotate(n=Count("item_id"))
        .values_list("near_group", "n")
    )
    names: dict[int, list[str]] = {}
    for group, external_id in (
        ItemCheck.objects.filter(project=project, near_group__in=groups)
        .order_by("near_group", "item_id")
        .values_list("near_group", "item__external_id")
    ):
        listed = names.setdefault(group, [])
        if len(listed) < EXTERNAL_IDS_PER_GROUP:
            listed.append(external_id)
    return [
        {"group": group, "size": sizes.get(group, 0), "external_ids": names.get(group, [])}
        for group in groups
    ]


def project_scan(*, project: Project) -> dict[str, int]:
    """Recompute every item's checks in the project from scratch, in one transaction:
    near-duplicate groups over all its prompts, personal data, band keys."""
    rows: list[tuple[int, Any]] = []
    last = 0
    while True:
        page = list(
            Item.objects.filter(project=project, pk__gt=last)
            .order_by("id")
            .values_list("id", "data")[:READ_BATCH]
        )
        rows.extend(page)
        if len(page) < READ_BATCH:
            break
        last = page[-1][0]
    ids = [item_id for item_id, _ in rows]
    texts = [prompt_text(data) for _, data in rows]
    grouping = neardup.group(texts, threshold=project.near_duplicate_threshold)
    group_of: dict[int, int] = {}
    for members in grouping.groups:
        for position in members:
            group_of[ids[position]] = ids[members[0]]
    keys = neardup.band_keys(texts)
    with transaction.atomic():
        ItemCheck.objects.filter(project=project).delete()
        PromptBand.objects.filter(project=project).delete()
        _, with_personal = _store_checks(project, rows, group_of, keys)
    return {
        "items": len(rows),
        "near_duplicate_groups": len(grouping.groups),
        "items_in_groups": len(group_of),
        "items_with_personal_data": with_personal,
    }
