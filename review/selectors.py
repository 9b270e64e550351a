"""What a reviewer reads: the review queue and an item laid out for adjudication."""

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, Exists, IntegerField, OuterRef, Prefetch, QuerySet, Value, When

from annotation import kinds
from annotation.apis_queue import blind_data
from annotation.models import Annotation, Item, ItemStatus, Membership, ReviewReason, Role
from core.access import ROLE_RANK
from core.models import AuditEvent

# A preference rating on the common A/B scale the reviewer reads (payloads are in A/B terms).
RATING_LABELS = {
    -3: "A much better",
    -2: "A better",
    -1: "A slightly better",
    0: "Tie",
    1: "B slightly better",
    2: "B better",
    3: "B much better",
}
RATING_SCALE = list(RATING_LABELS.items())
SIDE_NAMES = {-1: "a", 0: "tie", 1: "b"}
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
    side: str = ""  # preference ratings: "a", "b" or "tie"
    rating: int | None = None


@dataclass
class AnnotationView:
    id: int
    number: int
    label: str
    payload: dict
    rows: list[Row] = field(default_factory=list)
    annotator: str | None = None  # only when a lead revealed names


@dataclass
class ReviewEntry:
    item: Item
    data: dict[str, Any]
    annotations: list[AnnotationView]
    disputed: list[str]
    reopen_note: str = ""

    @property
    def payloads(self) -> dict[str, dict]:
        return {str(a.id): a.payload for a in self.annotations}


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


def review_entry(item: Item, *, reveal: bool = False) -> ReviewEntry:
    """An item laid out for adjudication: its data blind (no model names), its annotations
    labelled "Annotation 1, 2, ..." by id with no annotator names unless `reveal` (a lead's
    choice, checked by the caller), and the fields they disagree on."""
    annotations = list(item.annotations.all())
    disputed = disputed_fields(item.kind, [a.payload for a in annotations])
    views = [
        AnnotationView(
            id=a.pk,
            number=number,
            label=annotation_label(number),
            payload=a.payload,
            rows=_rows(item.kind, a.payload, disputed),
            annotator=a.annotator.username if reveal else None,
        )
        for number, a in enumerate(annotations, start=1)
    ]
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
