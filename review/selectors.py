"""What a reviewer reads: the review queue and an item laid out for adjudication."""

import hashlib
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, Exists, IntegerField, OuterRef, Prefetch, QuerySet, Value, When

from annotation import kinds
from annotation.models import Annotation, Item, ItemStatus, Membership, ReviewReason, Role
from annotation.selectors import blind_data
from core.access import ROLE_RANK
from core.models import AuditEvent

# A preference rating as the reviewer reads it: in the terms of the page, where the two responses
# stand left and right in an order drawn per reviewer and item (review_display_order). Stored
# payloads are in A/B terms; with the order "BA", A stands on the right and every rating flips.
RATING_LABELS = {
    -3: "Left much better",
    -2: "Left better",
    -1: "Left slightly better",
    0: "Tie",
    1: "Right slightly better",
    2: "Right better",
    3: "Right much better",
}
RATING_SCALE = list(RATING_LABELS.items())
SIDE_NAMES = {-1: "left", 0: "tie", 1: "right"}
DECISION_LABELS = {"refuse": "Refuse", "comply": "Comply", "partial": "Partially comply"}


def can_reveal(membership: Membership) -> bool:
    """Only a lead may lift the blinding and see who wrote which annotation."""
    return ROLE_RANK[membership.role] >= ROLE_RANK[Role.LEAD]


def review_queue(*, membership: Membership, with_annotators: bool = False) -> QuerySet[Item]:
    """The project's items in review that this member may decide: not those they annotated.

    Disputed items first, then items a lead sent back, then QA samples and text choices;
    oldest first within each. Annotations come prefetched in id order (their stable,
    identity-free labelling order)."""
    annotated_by_me = Annotation.objects.filter(
        item=OuterRef("pk"), annotator_id=membership.user_id
    )
    annotations = Annotation.objects.order_by("id")
    if with_annotators:
        annotations = annotations.select_related("annotator")
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
        .prefetch_related(Prefetch("annotations", queryset=annotations))
    )


def review_display_order(item_id: int, reviewer_id: int) -> str:
    """Where a reviewer sees the two responses of a preference item: "AB" (A on the left) or
    "BA". Drawn from (item, reviewer), so it holds across reloads and differs between the
    reviewers of one item, as DESIGN asks ("randomise the left/right position")."""
    digest = hashlib.sha256(f"review-display:{item_id}:{reviewer_id}".encode()).digest()
    return "BA" if digest[0] & 1 else "AB"


def as_displayed(kind: str, payload: dict, display_order: str) -> dict:
    """A preference payload between A/B terms and the page's left/right terms (the same
    mapping both ways): with "BA" the rating and every criterion change sign."""
    if kind != kinds.PREFERENCE or display_order != "BA":
        return payload

    def flip(value: Any) -> Any:
        return -value if _sign(value) is not None else value  # an invalid value stays as is

    flipped = dict(payload)
    if "rating" in flipped:
        flipped["rating"] = flip(flipped["rating"])
    if isinstance(flipped.get("criteria"), dict):
        flipped["criteria"] = {name: flip(v) for name, v in flipped["criteria"].items()}
    return flipped


def annotation_label(number: int) -> str:
    return f"Annotation {number}"


def _sign(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return kinds.preferred_side(value)


def disputed_fields(kind: str, payloads: list[dict]) -> list[str]:
    """The fields on which the annotations disagree: the preferred side of a rating or of a
    criterion, a refusal decision or harm category, an instruction category."""
    disputed = []

    def differs(name: str, key) -> bool:
        values = {key(p[name]) for p in payloads if name in p}
        return len(values) > 1

    if kind == kinds.PREFERENCE:
        if differs("rating", _sign):
            disputed.append("rating")
        names = sorted({name for p in payloads for name in (p.get("criteria") or {})})
        for name in names:
            values = {_sign((p.get("criteria") or {}).get(name)) for p in payloads}
            values.discard(None)
            if len(values) > 1:
                disputed.append(f"criteria.{name}")
    elif kind == kinds.REFUSAL:
        disputed += [f for f in ("decision", "harm_category") if differs(f, str)]
    else:
        disputed += [f for f in ("category",) if differs(f, str)]
    return disputed


@dataclass
class Row:
    """One field of an annotation as the reviewer reads it."""

    name: str
    label: str
    value: str
    differs: bool = False
    text: bool = False
    side: str = ""  # preference ratings: "left", "right" or "tie"
    rating: int | None = None


@dataclass
class AnnotationView:
    id: int
    number: int
    label: str
    payload: dict  # as displayed: preference ratings in left/right terms
    rows: list[Row] = field(default_factory=list)
    annotator: str | None = None  # only when a lead revealed names


@dataclass
class ReviewEntry:
    item: Item
    data: dict[str, Any]
    annotations: list[AnnotationView]
    disputed: list[str]
    display_order: str = "AB"
    reopen_note: str = ""

    @property
    def payloads(self) -> dict[str, dict]:
        return {str(a.id): a.payload for a in self.annotations}

    @property
    def sides(self) -> list[dict[str, str]]:
        """A preference item's responses as they stand on the page, left then right."""
        texts = [r.get("text", "") for r in self.data.get("responses") or []]
        if self.display_order == "BA":
            texts.reverse()
        return [{"name": n, "text": t} for n, t in zip(("Left", "Right"), texts, strict=False)]


def _rating_row(name: str, label: str, value: Any, disputed: list[str]) -> Row:
    sign = _sign(value)
    shown = RATING_LABELS.get(value, str(value)) if sign is not None else str(value)
    return Row(
        name=name,
        label=label,
        value=f"{shown} ({value:+d})" if sign is not None and value else shown,
        differs=name in disputed,
        side=SIDE_NAMES.get(sign, "") if sign is not None else "",
        rating=value if sign is not None else None,
    )


def _rows(kind: str, payload: dict, disputed: list[str]) -> list[Row]:
    if kind == kinds.PREFERENCE:
        rows = [_rating_row("rating", "Overall", payload.get("rating"), disputed)]
        for name, value in sorted((payload.get("criteria") or {}).items()):
            label = name.replace("_", " ").capitalize()
            rows.append(_rating_row(f"criteria.{name}", label, value, disputed))
        if payload.get("rationale"):
            rows.append(Row("rationale", "Rationale", payload["rationale"], text=True))
        return rows
    if kind == kinds.REFUSAL:
        decision = payload.get("decision", "")
        return [
            Row(
                "decision",
                "Decision",
                DECISION_LABELS.get(decision, str(decision)),
                "decision" in disputed,
            ),
            Row(
                "harm_category",
                "Harm category",
                str(payload.get("harm_category", "")),
                "harm_category" in disputed,
            ),
            Row("response", "Ideal response", str(payload.get("response", "")), text=True),
        ]
    return [
        Row("category", "Category", str(payload.get("category", "")), "category" in disputed),
        Row("response", "Response", str(payload.get("response", "")), text=True),
    ]


def review_entry(item: Item, *, reviewer_id: int, reveal: bool = False) -> ReviewEntry:
    """An item laid out for adjudication by one reviewer: its data blind (no model names), a
    preference's responses left and right in that reviewer's order with every rating in those
    terms, its annotations labelled "Annotation 1, 2, ..." by id with no annotator names unless
    `reveal` (a lead's choice, checked by the caller), and the fields they disagree on."""
    annotations = list(item.annotations.all())
    disputed = disputed_fields(item.kind, [a.payload for a in annotations])
    order = review_display_order(item.pk, reviewer_id)
    views = []
    for number, a in enumerate(annotations, start=1):
        payload = as_displayed(item.kind, a.payload, order)
        views.append(
            AnnotationView(
                id=a.pk,
                number=number,
                label=annotation_label(number),
                payload=payload,
                rows=_rows(item.kind, payload, disputed),
                annotator=a.annotator.username if reveal else None,
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
    return ReviewEntry(
        item=item,
        data=blind_data(item),
        annotations=views,
        disputed=disputed,
        display_order=order,
        reopen_note=reopen_note,
    )


def review_queue_entry_body(item: Item) -> dict[str, Any]:
    """One queue entry as the API shows it: blind for everyone."""
    annotations = list(item.annotations.all())
    return {
        "id": item.pk,
        "kind": item.kind,
        "review_reason": item.review_reason,
        "agreement": item.agreement or None,
        "data": blind_data(item),
        "annotations": [
            {"id": a.pk, "label": annotation_label(number), "payload": a.payload}
            for number, a in enumerate(annotations, start=1)
        ],
        "disputed_fields": disputed_fields(item.kind, [a.payload for a in annotations]),
    }
