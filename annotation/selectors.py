"""Selectors that read: what a member may see of items.

Three views, by role:
* a lead sees everything: annotator and model names, gold answers, metadata;
* a reviewer sees items blind (no annotator names, no model names, no metadata, which may name
  models) and never sees gold items: they are not listed and answer 404 by id. Gold items are
  served only to annotators (annotation.queue), so a reviewer never holds one either;
* an annotator sees only the items they were assigned, as the workspace shows them: blind, and
  alike whether gold or not (no status, no split, no external_id), with their own assignment
  and annotation only.
"""

from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.http import Http404

from annotation import kinds
from annotation.access import ROLE_RANK
from annotation.models import (
    Annotation,
    Assignment,
    Item,
    Membership,
    Project,
    Role,
    SuggestionMode,
)


def blind_data(item: Item) -> dict[str, Any]:
    """Item data as a reviewer sees it: model names are never shown."""
    return kinds.blind_data(item.kind, item.data)


def annotator_data(item: Item, project: Project) -> dict[str, Any]:
    """Item data as an annotator sees it: blind, and without a model's suggested labels
    while the project hides them (its `suggestions` setting)."""
    data = blind_data(item)
    if project.suggestions == SuggestionMode.HIDDEN:
        data = kinds.kind_get(item.kind).without_suggestions(data)
    return data


def can_see_identities(membership: Membership) -> bool:
    """Only leads see who annotated, which model wrote what, and which items are gold."""
    return ROLE_RANK[membership.role] >= ROLE_RANK[Role.LEAD]


def sees_only_own_items(membership: Membership) -> bool:
    return ROLE_RANK[membership.role] < ROLE_RANK[Role.REVIEWER]


def _assigned_to(user_id: int) -> Exists:
    return Exists(Assignment.objects.filter(item=OuterRef("pk"), annotator_id=user_id))


def item_list(*, membership: Membership) -> QuerySet[Item]:
    items = Item.objects.filter(project_id=membership.project_id)
    if can_see_identities(membership):
        return items
    if sees_only_own_items(membership):
        return items.filter(_assigned_to(membership.user_id))
    return items.filter(is_gold=False)


def item_visible(*, item: Item, membership: Membership) -> Item:
    """The item if this member may see it; a 404 otherwise (its existence is not revealed)."""
    if (
        item.project_id != membership.project_id
        or not item_list(membership=membership).filter(pk=item.pk).exists()
    ):
        raise Http404("No such item.")
    return item


def own_items_body(*, items: list[Item], membership: Membership) -> list[dict[str, Any]]:
    """Items as an annotator sees them in a list, with their own assignment on each."""
    assignments = {
        a.item_id: a
        for a in Assignment.objects.filter(
            annotator_id=membership.user_id, item_id__in=[i.pk for i in items]
        )
    }
    project = membership.project
    return [_own_item(item, project, assignments.get(item.pk), None) for item in items]


def _own_item(
    item: Item, project: Project, assignment: Assignment | None, annotation: Annotation | None
) -> dict[str, Any]:
    return {
        "id": item.pk,
        "project": item.project_id,
        "kind": item.kind,
        "data": annotator_data(item, project),
        "assignment": None
        if assignment is None
        else {
            "id": assignment.pk,
            "status": assignment.status,
            "display_order": assignment.display_order or None,
        },
        "annotation": None
        if annotation is None
        else {
            "id": annotation.pk,
            "payload": annotation.payload,
            "display_order": annotation.display_order or None,
            "seconds_spent": annotation.seconds_spent,
            "guidelines_version": annotation.guidelines_version,
            "created_at": annotation.created_at,
        },
    }


def item_detail(*, item: Item, membership: Membership) -> dict[str, Any]:
    """An item as this member may see it (see the module's docstring). The caller has checked
    `item_visible`."""
    if sees_only_own_items(membership):
        assignment = Assignment.objects.filter(item=item, annotator_id=membership.user_id).first()
        annotation = Annotation.objects.filter(item=item, annotator_id=membership.user_id).first()
        return _own_item(item, membership.project, assignment, annotation)
    privileged = can_see_identities(membership)
    item = (
        Item.objects.filter(pk=item.pk)
        .prefetch_related(
            Prefetch("annotations", queryset=Annotation.objects.select_related("annotator")),
            # Review's models, through the reverse relations (this app does not import review).
            "reviews__reviewer",
            "final_records__approved_by",
        )
        .get()
    )
    annotations = list(item.annotations.all())
    body: dict[str, Any] = {
        "id": item.pk,
        "project": item.project_id,
        "external_id": item.external_id,
        "kind": item.kind,
        "data": item.data if privileged else blind_data(item),
        "metadata": item.metadata if privileged else None,
        "priority": item.priority,
        "split": item.split,
        "status": item.status,
        "agreement": item.agreement or None,
        "review_reason": item.review_reason or None,
        "round": item.round,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "annotations": [
            {
                "id": a.pk,
                "label": f"Annotation {number}",
                "annotator": a.annotator.username if privileged else None,
                "mine": a.annotator_id == membership.user_id,
                "payload": a.payload,
                "display_order": a.display_order or None,
                "seconds_spent": a.seconds_spent,
                "guidelines_version": a.guidelines_version,
                "round": a.round,
                "created_at": a.created_at,
            }
            for number, a in enumerate(annotations, start=1)
        ],
        # Reviewers see each other's decisions (a 409 names the reviewer who decided first).
        "reviews": [
            {
                "id": r.pk,
                "reviewer": r.reviewer.username,
                "decision": r.decision,
                "annotation": r.annotation_id,
                "final": r.final,
                "note": r.note,
                "created_at": r.created_at,
            }
            for r in item.reviews.all()
        ],
        "final_record": None,
        "final_history": [],
    }
    for record in item.final_records.all():
        entry = {
            "payload": record.payload,
            "provenance": record.provenance,
            "approved_by": record.approved_by.username if record.approved_by else None,
            "created_at": record.created_at,
        }
        if record.is_current:
            body["final_record"] = entry
        else:
            body["final_history"].append(entry)
    if privileged:
        body["is_gold"] = item.is_gold
        body["gold"] = item.gold
        for annotation, entry in zip(annotations, body["annotations"], strict=True):
            entry["gold_correct"] = annotation.gold_correct
    return body
