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

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, F, OuterRef, Prefetch, QuerySet
from django.http import Http404

from annotation import kinds
from annotation.access import ROLE_RANK
from annotation.models import (
    Annotation,
    Assignment,
    AssignmentStatus,
    Item,
    ItemStatus,
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


@dataclass
class OwnItem:
    """An item as its annotator sees it: blind, with their own assignment and annotation."""

    item: Item
    data: dict[str, Any]
    assignment: Assignment | None
    annotation: Annotation | None


def own_items(*, items: list[Item], membership: Membership) -> list[OwnItem]:
    """Items as an annotator sees them in a list, with their own assignment on each."""
    assignments = {
        a.item_id: a
        for a in Assignment.objects.filter(
            annotator_id=membership.user_id, item_id__in=[i.pk for i in items]
        )
    }
    project = membership.project
    return [
        OwnItem(item, annotator_data(item, project), assignments.get(item.pk), None)
        for item in items
    ]


@dataclass
class AnnotationOnItem:
    """An annotation of an item as a lead or reviewer reads it: labelled "Annotation 1, 2,
    ..." by id; the annotator's name for leads only."""

    annotation: Annotation
    label: str
    annotator: str | None
    mine: bool


@dataclass
class ItemDetail:
    """An item as a lead (everything) or a reviewer (blind: no model names, no metadata, no
    annotator names, no gold answers) reads it, with its annotations, reviews and final
    records. Reviews and final records are review's models, read through the item's reverse
    relations (this app does not import review)."""

    item: Item
    data: dict[str, Any]
    metadata: dict[str, Any] | None
    annotations: list[AnnotationOnItem]
    reviews: list[Any]
    final_record: Any | None
    final_history: list[Any]
    # Whether the reader sees identities: leads also read gold answers and gold scores.
    privileged: bool
    # Who skipped it and why (names for leads only), flags for the lead.
    skips: list[Assignment] = field(default_factory=list)


def item_detail(*, item: Item, membership: Membership) -> OwnItem | ItemDetail:
    """An item as this member may see it (see the module's docstring). The caller has checked
    `item_visible`."""
    if sees_only_own_items(membership):
        assignment = Assignment.objects.filter(item=item, annotator_id=membership.user_id).first()
        annotation = Annotation.objects.filter(item=item, annotator_id=membership.user_id).first()
        return OwnItem(item, annotator_data(item, membership.project), assignment, annotation)
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
    records = list(item.final_records.all())
    return ItemDetail(
        item=item,
        data=item.data if privileged else blind_data(item),
        metadata=item.metadata if privileged else None,
        annotations=[
            AnnotationOnItem(
                annotation=a,
                label=f"Annotation {number}",
                annotator=a.annotator.username if privileged else None,
                mine=a.annotator_id == membership.user_id,
            )
            for number, a in enumerate(item.annotations.all(), start=1)
        ],
        # Reviewers see each other's decisions (a 409 names the reviewer who decided first).
        reviews=list(item.reviews.all()),
        final_record=next((r for r in records if r.is_current), None),
        final_history=[r for r in records if not r.is_current],
        privileged=privileged,
        skips=list(
            Assignment.objects.filter(item=item, status=AssignmentStatus.SKIPPED)
            .select_related("annotator")
            .order_by("finished_at", "pk")
        ),
    )


ITEMS_LEFT_CAP = 1000  # counted at most: beyond it the page says "1,000+"


def items_left(*, project: Project, user: Any) -> int:
    """How many items the member could still be served (open, a slot free, not yet seen by
    them; gold items aside), counted up to ITEMS_LEFT_CAP so the count stays cheap on a large
    project."""
    seen = Assignment.objects.filter(item=OuterRef("pk"), annotator=user).exclude(
        status=AssignmentStatus.EXPIRED
    )
    free = (
        Item.objects.filter(project=project, status=ItemStatus.OPEN, is_gold=False)
        .alias(taken=F("submitted_count") + F("active_count"))
        .filter(taken__lt=project.annotations_per_item)
        .filter(~Exists(seen))
    )
    return free.values("pk")[:ITEMS_LEFT_CAP].count()
