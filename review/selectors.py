"""What a reviewer reads: the review queue and an item laid out for adjudication."""

import hashlib
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, Exists, IntegerField, OuterRef, Prefetch, QuerySet, Value, When
from django.utils import timezone

from annotation import kinds
from annotation.access import ROLE_RANK
from annotation.models import Annotation, Item, ItemStatus, Membership, ReviewReason, Role
from annotation.selectors import blind_data
from core.models import AuditEvent
from core.textdiff import word_diff
from review.models import FinalRecord, Review, ReviewLease, ReviewLeaseStatus, ReviewSkip


def can_reveal(membership: Membership) -> bool:
    """Only a lead may lift the blinding and see who wrote which annotation."""
    return ROLE_RANK[membership.role] >= ROLE_RANK[Role.LEAD]


def _in_review_for(membership: Membership) -> QuerySet[Item]:
    """The project's items in review that this member may decide (not those they annotated,
    in any round), in queue order: disputed items first, then items a lead sent back, then
    QA samples and text choices; oldest first within each."""
    annotated_by_me = Annotation.objects.filter(
        item=OuterRef("pk"), annotator_id=membership.user_id
    )
    return (
        Item.objects.filter(project_id=membership.project_id, status=ItemStatus.IN_REVIEW)
        .filter(~Exists(annotated_by_me))
        .alias(
            rank=Case(
                When(review_reason=ReviewReason.DISPUTED, then=Value(0)),
                When(review_reason=ReviewReason.REOPENED, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )
        .order_by("rank", "id")
    )


def review_queue(*, membership: Membership, with_annotators: bool = False) -> QuerySet[Item]:
    """The items in review this member may decide, in queue order, with their annotations
    prefetched in id order (their stable, identity-free labelling order)."""
    annotations = Annotation.objects.order_by("id")
    if with_annotators:
        annotations = annotations.select_related("annotator")
    return _in_review_for(membership).prefetch_related(
        Prefetch("annotations", queryset=annotations)
    )


def review_claimable(*, membership: Membership) -> QuerySet[Item]:
    """The items in review this member may take now: not held by another reviewer (a review
    lease that has not run out), not put aside by them."""
    held = ReviewLease.objects.filter(
        item=OuterRef("pk"), status=ReviewLeaseStatus.ACTIVE, expires_at__gt=timezone.now()
    ).exclude(reviewer_id=membership.user_id)
    skipped = ReviewSkip.objects.filter(item=OuterRef("pk"), reviewer_id=membership.user_id)
    return _in_review_for(membership).filter(~Exists(held), ~Exists(skipped))


def current_annotations(item: Item) -> list[Annotation]:
    """The annotations of the item's current round (prefetched ones when there are)."""
    return [a for a in item.annotations.all() if a.round == item.round]


def review_display_order(item_id: int, reviewer_id: int) -> str:
    """Where a reviewer sees the two responses of a preference item: "AB" (A on the left) or
    "BA". Drawn from (item, reviewer), so it holds across reloads and differs between the
    reviewers of one item, so no reviewer can learn a side's position and lean on it."""
    digest = hashlib.sha256(f"review-display:{item_id}:{reviewer_id}".encode()).digest()
    return "BA" if digest[0] & 1 else "AB"


def as_displayed(kind: str, payload: dict, display_order: str) -> dict:
    """A payload between A/B terms and the page's left/right terms (the same mapping both
    ways), as the kind defines it."""
    return kinds.kind_get(kind).to_display(payload, display_order)


def annotation_label(number: int) -> str:
    return f"Annotation {number}"


def disputed_fields(kind: str, payloads: list[dict]) -> list[str]:
    """The fields on which the annotations disagree (the kind says which can)."""
    return kinds.kind_get(kind).disputed_fields(payloads)


@dataclass
class AnnotationView:
    id: int
    number: int
    label: str
    payload: dict  # as displayed: preference ratings in left/right terms
    rows: list[kinds.ReviewRow] = field(default_factory=list)
    annotator: str | None = None  # only when a lead revealed names
    # How its author's view differs from the reviewer's (a preference shown the other way
    # round): its free text says left and right in the author's terms.
    order_note: str = ""


@dataclass
class ReviewEntry:
    item: Item
    data: dict[str, Any]
    annotations: list[AnnotationView]
    disputed: list[str]
    display_order: str = "AB"
    reopen_note: str = ""
    # Word differences between the first two annotations' texts (kinds with a text field).
    text_diff: dict[str, Any] | None = None
    # The item's prediction as this reviewer may read it (review.guards); None: none.
    prediction: Any = None

    @property
    def payloads(self) -> dict[str, dict]:
        return {str(a.id): a.payload for a in self.annotations}

    @property
    def sides(self) -> list[dict[str, str]]:
        """The item's responses as they stand on the page, left then right ([] for a kind
        without)."""
        return kinds.kind_get(self.item.kind).sides(self.data, self.display_order)

    @property
    def data_shown(self) -> list[kinds.DataField]:
        """The item's data beyond the prompt and the sides, as its kind shows it."""
        return kinds.kind_get(self.item.kind).data_shown(self.data)


def review_entry(item: Item, *, reviewer_id: int, reveal: bool = False) -> ReviewEntry:
    """An item laid out for adjudication by one reviewer: its data blind (no model names), a
    preference's responses left and right in that reviewer's order with every rating in those
    terms, its annotations labelled "Annotation 1, 2, ..." by id with no annotator names unless
    `reveal` (a lead's choice, checked by the caller), and the fields they disagree on."""
    annotations = current_annotations(item)
    kind = kinds.kind_get(item.kind)
    disputed = kind.disputed_fields([a.payload for a in annotations])
    order = review_display_order(item.pk, reviewer_id)
    views = []
    for number, a in enumerate(annotations, start=1):
        payload = kind.to_display(a.payload, order)
        views.append(
            AnnotationView(
                id=a.pk,
                number=number,
                label=annotation_label(number),
                payload=payload,
                rows=kind.review_rows(payload, disputed),
                annotator=a.annotator.username if reveal else None,
                order_note=kind.order_note(a.display_order, order),
            )
        )
    reopen_note = ""
    if item.review_reason == ReviewReason.REOPENED:
        event = (
            AuditEvent.objects.filter(
                action="item.reopen", object_type="annotation.item", object_id=str(item.pk)
            )
            .order_by("-id")
            .first()
        )
        reopen_note = (event.after or {}).get("note", "") if event else ""
    text_diff = None
    texts = [a.payload.get(kind.text_field) for a in annotations] if kind.text_field else []
    if len(texts) >= 2 and all(isinstance(t, str) for t in texts[:2]) and texts[0] != texts[1]:
        text_diff = {
            "first": views[0].label,
            "second": views[1].label,
            "parts": word_diff(texts[0], texts[1]),
        }
    return ReviewEntry(
        item=item,
        data=blind_data(item),
        annotations=views,
        disputed=disputed,
        display_order=order,
        reopen_note=reopen_note,
        text_diff=text_diff,
    )


@dataclass
class QueueAnnotation:
    id: int
    label: str
    payload: dict  # in A/B terms
    # The order its author saw a preference's responses in ("AB", "BA"; "" for other kinds):
    # its rationale's left and right are in those terms.
    display_order: str = ""


@dataclass
class QueueEntry:
    """One item of the review queue as the API shows it: blind for everyone."""

    item: Item
    data: dict[str, Any]
    annotations: list[QueueAnnotation]
    disputed_fields: list[str]


def review_item(item_id: int) -> Item:
    """One item in review with its annotations prefetched, as review_queue gives them."""
    return Item.objects.prefetch_related(
        Prefetch("annotations", queryset=Annotation.objects.order_by("id"))
    ).get(pk=item_id)


def review_queue_entry(item: Item) -> QueueEntry:
    """An item of `review_queue` (annotations prefetched) as the API shows it."""
    annotations = current_annotations(item)
    return QueueEntry(
        item=item,
        data=blind_data(item),
        annotations=[
            QueueAnnotation(
                id=a.pk,
                label=annotation_label(number),
                payload=a.payload,
                display_order=a.display_order,
            )
            for number, a in enumerate(annotations, start=1)
        ],
        disputed_fields=disputed_fields(item.kind, [a.payload for a in annotations]),
    )


@dataclass
class ItemOutcome:
    """An item after a decision (or a reopening), with its current final record (None unless
    it is approved) and the decision when there was one."""

    item: Item
    final_record: FinalRecord | None
    review: Review | None = None


def item_outcome(*, item: Item, review: Review | None = None) -> ItemOutcome:
    return ItemOutcome(
        item=item,
        final_record=FinalRecord.objects.filter(item=item, is_current=True).first(),
        review=review,
    )


def review_skipped_count(*, membership: Membership) -> int:
    """Items in review the member put aside."""
    return ReviewSkip.objects.filter(
        project_id=membership.project_id,
        reviewer_id=membership.user_id,
        item__status=ItemStatus.IN_REVIEW,
    ).count()


@dataclass
class ListRow:
    item: Item
    kind_label: str
    prompt: str
    disputed: list[str]
    held_until: Any  # another reviewer's lease expiry, None when free
    mine: bool  # held by the caller
    skipped: bool


LIST_SIZE = 200


def review_list(
    *, membership: Membership, reason: str = "", kind: str = "", field: str = ""
) -> list[ListRow]:
    """The items in review the member may decide, in queue order, at most LIST_SIZE, filtered
    by reason, kind and a field in dispute, with who holds each."""
    items = review_queue(membership=membership)
    if reason:
        items = items.filter(review_reason=reason)
    if kind:
        items = items.filter(kind=kind)
    now = timezone.now()
    held = {
        lease.item_id: lease
        for lease in ReviewLease.objects.filter(
            project_id=membership.project_id, status=ReviewLeaseStatus.ACTIVE, expires_at__gt=now
        )
    }
    skipped = set(
        ReviewSkip.objects.filter(
            project_id=membership.project_id, reviewer_id=membership.user_id
        ).values_list("item_id", flat=True)
    )
    rows = []
    for item in items[: LIST_SIZE * 4 if field else LIST_SIZE]:
        spec = kinds.kind_get(item.kind)
        disputed = spec.disputed_fields([a.payload for a in current_annotations(item)])
        if field and field not in disputed:
            continue
        lease = held.get(item.pk)
        rows.append(
            ListRow(
                item=item,
                kind_label=spec.label,
                prompt=kinds.representative_prompt(item.data),
                disputed=disputed,
                held_until=lease.expires_at
                if lease and lease.reviewer_id != membership.user_id
                else None,
                mine=bool(lease and lease.reviewer_id == membership.user_id),
                skipped=item.pk in skipped,
            )
        )
        if len(rows) >= LIST_SIZE:
            break
    return rows
