"""What happens to an item once its annotations are in: agreement, review routing, approval."""

import hashlib
from typing import Any

from annotation import kinds
from annotation.models import Agreement, Annotation, Item, ItemStatus, Project, ReviewReason
from core.audit import audit_record
from review.models import FinalRecord, Provenance


def in_review_sample(item: Item, rate: float) -> bool:
    """A stable draw per item: the same item always falls the same way for a given rate."""
    if rate <= 0:
        return False
    digest = hashlib.sha256(f"review-sample:{item.pk}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def _representative(item: Item, annotations: list[Annotation]) -> Annotation:
    """The annotation that stands for an agreed item: for a preference, the rating closest to
    the mean (the earliest on a tie); otherwise the earliest."""
    if item.kind != kinds.PREFERENCE:
        return annotations[0]
    mean = sum(a.payload["rating"] for a in annotations) / len(annotations)
    return min(annotations, key=lambda a: (abs(a.payload["rating"] - mean), a.pk))


def item_complete(*, item: Item, project: Project) -> Item:
    """Apply the item-level rule when the last annotation arrives (the item row is locked).

    Agreed preferences are approved (or sampled into review); agreed instruction and refusal
    items still need a reviewer to pick the final text unless the project auto-approves them;
    disputed items go to review."""
    annotations = list(Annotation.objects.filter(item=item).order_by("id"))
    agreed = len({kinds.agreement_key(item.kind, a.payload) for a in annotations}) == 1
    before = {"status": item.status}
    item.agreement = Agreement.AGREED if agreed else Agreement.DISPUTED
    if not agreed:
        reason = ReviewReason.DISPUTED
    elif item.kind != kinds.PREFERENCE and not project.auto_approve_text:
        reason = ReviewReason.TEXT
    elif in_review_sample(item, project.review_sample_rate):
        reason = ReviewReason.SAMPLED
    else:
        reason = ""
    if reason:
        item.status, item.review_reason = ItemStatus.IN_REVIEW, reason
    else:
        item.status, item.review_reason = ItemStatus.APPROVED, ""
        final_record_create(
            item=item,
            payload=_representative(item, annotations).payload,
            provenance=Provenance.UNANIMOUS,
            source=_representative(item, annotations),
            approved_by=None,
        )
    item.save(update_fields=["status", "agreement", "review_reason", "updated_at"])
    audit_record(
        actor=None,
        action="item.complete",
        obj=item,
        project=project,
        before=before,
        after={"status": item.status, "agreement": item.agreement, "review_reason": reason},
    )
    return item


def final_record_create(
    *,
    item: Item,
    payload: dict[str, Any],
    provenance: str,
    source: Annotation | None,
    approved_by: Any,
) -> FinalRecord:
    """The one current final record of an approved item; an earlier one is kept as history."""
    FinalRecord.objects.filter(item=item, is_current=True).update(is_current=False)
    return FinalRecord.objects.create(
        item=item,
        payload=payload,
        provenance=provenance,
        source_annotation=source,
        approved_by=approved_by,
    )
