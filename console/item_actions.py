"""A lead's actions on items, one or many: drop, restore, re-queue, send back to review, set
priority, split or metadata. The items browser's filters choose the many; the action runs over
all of them in one transaction, all or nothing, through the same services as the single-item
actions (annotation.queue, annotation.item_edit, review.services), so each changed item gets
its own audit event. Nothing runs in the background: a selection is at most BULK_MAX items."""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.http import QueryDict

from annotation import queue
from annotation.filters import ItemFilter
from annotation.item_edit import item_update
from annotation.models import Item, ItemStatus, Project
from core import parsers
from core.errors import ApplicationError, Conflict, PayloadTooLarge
from review import services as review_services

BULK_MAX = 10_000
PROBLEMS_SHOWN = 20

# action: (label for pages, whether it takes a value)
ACTIONS: dict[str, tuple[str, bool]] = {
    "drop": ("Drop (out of the data; restorable)", False),
    "restore": ("Restore dropped items to annotation", False),
    "requeue": ("Re-queue stalled, dropped or rejected items", False),
    "reopen": ("Send approved, rejected or dropped items back to review", False),
    "priority": ("Set priority", True),
    "split": ("Set split", True),
    "metadata": ("Merge metadata keys (a null value removes a key)", True),
}


@dataclass
class BulkResult:
    action: str
    count: int  # items selected
    changed: int  # items the action changed (one audit event each)
    message: str
    problems: list[dict[str, Any]] = field(default_factory=list)


def _restore(item: Item, project: Project, actor: Any, note: str) -> bool:
    if item.status != ItemStatus.DROPPED:
        raise Conflict(f"Only a dropped item can be restored (it is {item.status}).")
    queue.item_requeue(item_id=item.pk, actor=actor, project=project)
    return True


def _run_one(action: str, value: Any, note: str) -> Callable[[Item, Project, Any], bool]:
    """The function that applies `action` to one item and says whether it changed it."""
    match action:
        case "drop":
            return lambda item, project, actor: bool(
                queue.item_drop(item_id=item.pk, actor=actor, project=project, note=note)
            )
        case "restore":
            return lambda item, project, actor: _restore(item, project, actor, note)
        case "requeue":
            return lambda item, project, actor: bool(
                queue.item_requeue(item_id=item.pk, actor=actor, project=project)
            )
        case "reopen":
            return lambda item, project, actor: bool(
                review_services.item_reopen(item_id=item.pk, actor=actor, note=note)
            )
        case "priority" | "split":
            return lambda item, project, actor: bool(
                item_update(project=project, item_id=item.pk, actor=actor, changes={action: value})[
                    1
                ]
            )
        case "metadata":

            def merge(item: Item, project: Project, actor: Any) -> bool:
                # Read under the row's lock, so a concurrent import's change is not lost.
                current = Item.objects.select_for_update().only("metadata").get(pk=item.pk)
                merged = {**(current.metadata or {}), **value}
                merged = {k: v for k, v in merged.items() if v is not None}
                changes = {"metadata": merged}
                return bool(
                    item_update(project=project, item_id=item.pk, actor=actor, changes=changes)[1]
                )

            return merge
    raise ApplicationError(
        f"Unknown action {action!r}: one of {', '.join(ACTIONS)}.",
        {"errors": [{"field": "action", "message": "Unknown action."}]},
    )


def _check_value(action: str, value: Any) -> Any:
    if action == "priority":
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                value = None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise _value_error("A number (higher is served first).")
    elif action == "split":
        if value not in ("train", "eval"):
            raise _value_error("train or eval.")
    elif action == "metadata":
        if isinstance(value, str):
            try:
                value = parsers.loads(value)
            except ValueError:
                value = None
        if not isinstance(value, dict) or not value:
            raise _value_error('A JSON object of keys to set, e.g. {"batch": "b7"}.')
    return value


def _value_error(message: str) -> ApplicationError:
    return ApplicationError(
        f"value: {message}", {"errors": [{"field": "value", "message": message}]}
    )


def items_bulk(
    *,
    project: Project,
    actor: Any,
    item_ids: list[int],
    action: str,
    value: Any = None,
    note: str = "",
) -> BulkResult:
    """Apply `action` to the items `item_ids` of `project` in one transaction: every item or
    none (a Conflict lists the items the action does not fit). No items: a message, nothing
    done."""
    if action not in ACTIONS:
        _run_one(action, value, note)  # raises the error naming the actions
    if ACTIONS[action][1]:
        value = _check_value(action, value)
    run = _run_one(action, value, note)
    count = len(item_ids)
    if count == 0:
        return BulkResult(action, 0, 0, "No item matches the selection: nothing was done.")
    if count > BULK_MAX:
        raise PayloadTooLarge(
            f"The selection holds {count:,} items; a bulk action takes at most {BULK_MAX:,}. "
            "Narrow the filters."
        )
    problems: list[dict[str, Any]] = []
    changed = 0
    with transaction.atomic():
        items = Item.objects.filter(project=project, pk__in=item_ids).order_by("pk")
        for item in items.only("pk", "external_id", "status"):
            try:
                with transaction.atomic():
                    changed += run(item, project, actor)
            except ApplicationError as error:
                problems.append(
                    {"id": item.pk, "external_id": item.external_id, "message": error.message}
                )
        if problems:  # leaving the block by the error rolls every item back
            first = problems[0]
            raise Conflict(
                f"{len(problems)} of the {count} selected items do not allow this, so nothing "
                f"was changed. First: {first['external_id']}: {first['message']}",
                {"errors": problems[:PROBLEMS_SHOWN], "count": count},
            )
    label = ACTIONS[action][0].split(" (")[0]
    return BulkResult(action, count, changed, f"{label}: {changed} of {count} items changed.")


def items_selected(*, project: Project, params: Any) -> list[int]:
    """The ids of the project's items the items browser's filters select (`params`: a
    QueryDict or a dict of filter values); an invalid filter is a 400 naming it."""
    if not isinstance(params, QueryDict):
        query = QueryDict(mutable=True)
        for name, value in (params or {}).items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            query[name] = "" if value is None else str(value)
        params = query
    params = params.copy()
    for name in ("after", "csrfmiddlewaretoken", "action", "value", "note", "confirm_count"):
        params.pop(name, None)
    filterset = ItemFilter(params, queryset=Item.objects.filter(project=project))
    if not filterset.is_valid():
        raise ApplicationError(
            "Invalid filter.",
            {"errors": [{"field": k, "message": " ".join(v)} for k, v in filterset.errors.items()]},
        )
    return list(filterset.qs.order_by("pk").values_list("pk", flat=True)[: BULK_MAX + 1])
