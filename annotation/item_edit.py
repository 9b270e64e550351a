"""A lead edits one item after import: its data (while nobody has annotated it or holds a
lease on it), priority, split and metadata. Validation is the import's (the kind's rules), and
the change is one audit event.

Dropping, restoring, re-queueing are annotation.queue's (item_drop, item_requeue); sending
back to review is review.services.item_reopen.
"""

from typing import Any

from django.db import transaction
from django.http import Http404

from annotation import kinds
from annotation.importing import duplicates_refresh, import_checks_run
from annotation.models import Item, Project
from core.audit import audit_record
from core.errors import ApplicationError, Conflict

EDITABLE = ("data", "priority", "split", "metadata")
LOCKED_MESSAGE = (
    "The item has annotations or an active lease, so its data can no longer change (priority, "
    "split and metadata can). Drop it and import a new item instead."
)


@transaction.atomic
def item_update(
    *, project: Project, item_id: int, actor: Any, changes: dict[str, Any]
) -> tuple[Item, list[str]]:
    """Apply `changes` (any of EDITABLE) to an item of `project`; returns the item and the
    fields that changed (an audit event when any did). 400 listing every invalid field, 409
    for new data on an item already annotated or leased; nothing changes then."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ApplicationError(
            f"Only {', '.join(EDITABLE)} can be edited.",
            {"errors": [{"field": name, "message": "Not editable."} for name in unknown]},
        )
    item = Item.objects.select_for_update().filter(pk=item_id, project=project).first()
    if item is None:
        raise Http404("No such item in this project.")
    row = {
        "external_id": item.external_id,
        "kind": item.kind,
        "data": item.data,
        "metadata": item.metadata,
        "priority": item.priority,
        "split": item.split,
        "gold": item.gold,
        **changes,
    }
    clean, problems = kinds.validate_item_row(row, kinds.Vocabulary.of(project))
    if clean is None:
        raise ApplicationError(
            f"{problems[0]['field']}: {problems[0]['message']}", {"errors": problems}
        )
    new = {
        "data": clean.data,
        "priority": clean.priority,
        "split": clean.split or item.split,
        "metadata": clean.metadata,
    }
    changed = [name for name in EDITABLE if getattr(item, name) != new[name]]
    if "data" in changed and (item.submitted_count or item.active_count):
        raise Conflict(LOCKED_MESSAGE, {"status": item.status})
    if not changed:
        return item, []
    before = {name: getattr(item, name) for name in changed}
    old_hash = item.content_hash
    for name in changed:
        setattr(item, name, new[name])
    fields = [*changed, "updated_at"]
    if "data" in changed:
        item.content_hash = kinds.content_hash(item.kind, item.data)
        item.data_hash = kinds.json_hash([item.kind, item.data, item.gold])
        fields += ["content_hash", "data_hash"]
    if "metadata" in changed:
        item.metadata_hash = kinds.json_hash(item.metadata)
        fields.append("metadata_hash")
    item.save(update_fields=fields)
    if item.content_hash != old_hash:
        duplicates_refresh(project_id=project.pk, hashes=sorted({old_hash, item.content_hash}))
    if "data" in changed:  # its near-duplicate group and personal data, as at import
        import_checks_run(project=project, item_ids=[item.pk])
    audit_record(
        actor=actor,
        action="item.edit",
        obj=item,
        project=project,
        before=before,
        after={name: getattr(item, name) for name in changed},
    )
    return item, changed
