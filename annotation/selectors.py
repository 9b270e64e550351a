"""Selectors that read: what a member may see of items."""

from typing import Any

from django.db.models import Prefetch, QuerySet

from annotation.models import Annotation, Item, ItemStatus, Membership, Role
from core.access import ROLE_RANK
from review.models import FinalRecord, Review


def can_see_identities(membership: Membership) -> bool:
    """Leads and reviewers see who annotated; annotators see annotations blind."""
    return ROLE_RANK[membership.role] >= ROLE_RANK[Role.REVIEWER]


def item_list(*, membership: Membership) -> QuerySet[Item]:
    items = Item.objects.filter(project_id=membership.project_id)
    if not can_see_identities(membership):
        # Gold items look like any other item to annotators, so they are not listed to them.
        items = items.filter(is_gold=False)
    return items


def item_detail(*, item: Item, membership: Membership) -> dict[str, Any]:
    """An item with its annotations, reviews and final records, as this member may see them.

    Annotators see no annotator or reviewer identities, no gold answer, and other people's
    annotations only once the item has left the queue (so nobody copies an answer)."""
    privileged = can_see_identities(membership)
    item = (
        Item.objects.filter(pk=item.pk)
        .prefetch_related(
            Prefetch("annotations", queryset=Annotation.objects.select_related("annotator")),
            Prefetch("reviews", queryset=Review.objects.select_related("reviewer")),
            Prefetch("final_records", queryset=FinalRecord.objects.select_related("approved_by")),
        )
        .get()
    )
    annotations = list(item.annotations.all())
    if not privileged and item.status == ItemStatus.OPEN:
        annotations = [a for a in annotations if a.annotator_id == membership.user_id]
    body: dict[str, Any] = {
        "id": item.pk,
        "project": item.project_id,
        "external_id": item.external_id,
        "kind": item.kind,
        "data": item.data,
        "metadata": item.metadata,
        "priority": item.priority,
        "split": item.split,
        "status": item.status,
        "agreement": item.agreement or None,
        "review_reason": item.review_reason or None,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "annotations": [
            {
                "id": a.pk,
                "annotator": a.annotator.username if privileged else None,
                "mine": a.annotator_id == membership.user_id,
                "payload": a.payload,
                "display_order": a.display_order or None,
                "seconds_spent": a.seconds_spent,
                "guidelines_version": a.guidelines_version,
                "created_at": a.created_at,
            }
            for a in annotations
        ],
        "reviews": [
            {
                "id": r.pk,
                "reviewer": r.reviewer.username if privileged else None,
                "decision": r.decision,
                "annotation": r.annotation_id,
                "final": r.final,
                "note": r.note,
                "created_at": r.created_at,
            }
            for r in item.reviews.all()
        ]
        if privileged
        else [],
        "final_record": None,
        "final_history": [],
    }
    for record in item.final_records.all():
        entry = {
            "payload": record.payload,
            "provenance": record.provenance,
            "approved_by": record.approved_by.username
            if privileged and record.approved_by
            else None,
            "created_at": record.created_at,
        }
        if record.is_current:
            body["final_record"] = entry
        elif privileged:
            body["final_history"].append(entry)
    if privileged:
        body["is_gold"] = item.is_gold
        body["gold"] = item.gold
        for annotation, entry in zip(annotations, body["annotations"], strict=True):
            entry["gold_correct"] = annotation.gold_correct
    return body
