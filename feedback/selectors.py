"""What an annotator reads about their own work."""

from dataclasses import dataclass
from typing import Any

from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from agreement.selectors import agreement_report_latest
from annotation.models import Annotation, AnnotatorDay, ItemStatus, Membership
from review.models import FinalRecord, Review

# What became of an annotation, as "My work" and its API say it.
WAITING, APPROVED, EDITED, REJECTED = "waiting", "approved", "edited", "rejected"
STATUSES = (WAITING, APPROVED, EDITED, REJECTED)


def my_work(*, membership: Membership, status: str | None = None) -> QuerySet[Annotation]:
    """The member's annotations in the project, newest first, each with `outcome` (one of
    STATUSES), `final_payload` (the item's current final record, when approved) and
    `review_note` (the note of the decision on its round):

    * a gold item: approved when the answer hit the known one, rejected when it missed;
    * an annotation of a round that was rejected (the item went back for fresh annotations,
      or was dropped): rejected;
    * an approved item whose final record is this annotation's answer: approved; another
      answer or a reviewer's edit: edited;
    * anything else: waiting."""
    current = FinalRecord.objects.filter(item=OuterRef("item_id"), is_current=True)
    decision = Review.objects.filter(item=OuterRef("item_id"), round=OuterRef("round")).order_by(
        "-id"
    )
    work = (
        Annotation.objects.filter(project_id=membership.project_id, annotator_id=membership.user_id)
        .select_related("item")
        .annotate(
            final_source=Subquery(current.values("source_annotation_id")[:1]),
            final_payload=Subquery(current.values("payload")[:1]),
            review_note=Coalesce(
                Subquery(decision.values("note")[:1]), Value(""), output_field=TextField()
            ),
            # When its outcome arrived: a gold answer is scored at submit; otherwise the
            # decision on its round, the approval by the rule, or (a lead's drop or re-queue)
            # the item's last change.
            decided_at=Case(
                When(item__is_gold=True, then=F("created_at")),
                default=Coalesce(
                    Subquery(decision.values("created_at")[:1]),
                    Subquery(current.values("created_at")[:1]),
                    F("item__updated_at"),
                ),
                output_field=DateTimeField(),
            ),
        )
        .annotate(
            outcome=Case(
                When(item__is_gold=True, gold_correct=True, then=Value(APPROVED)),
                When(item__is_gold=True, then=Value(REJECTED)),
                When(round__lt=F("item__round"), then=Value(REJECTED)),
                When(
                    item__status__in=[ItemStatus.REJECTED, ItemStatus.DROPPED],
                    then=Value(REJECTED),
                ),
                When(
                    Q(item__status=ItemStatus.APPROVED)
                    & (Q(final_source=F("pk")) | Q(final_payload=F("payload"))),
                    then=Value(APPROVED),
                ),
                When(item__status=ItemStatus.APPROVED, then=Value(EDITED)),
                default=Value(WAITING),
                output_field=CharField(),
            )
        )
        .order_by("-created_at", "-id")
    )
    if status:
        work = work.filter(outcome=status)
    return work


def news_count(*, membership: Membership) -> int:
    """Outcomes of the member's work that arrived since they last opened "My work" (by when
    each was decided, so a later edit of the item or its next round is not news again)."""
    return (
        my_work(membership=membership)
        .exclude(outcome=WAITING)
        .filter(decided_at__gt=membership.work_seen_at or membership.created_at)
        .count()
    )


@dataclass
class Figures:
    """The member's own figures, each with the number it stands on."""

    annotations: int
    gold_answers: int
    gold_accuracy: float | None
    decided: int  # annotations whose item was decided (approved, edited or rejected)
    approval_rate: float | None  # approved as is among decided
    agreement_with_others: float | None  # from the latest agreement report
    agreement_pairs: int


def my_figures(*, membership: Membership) -> Figures:
    days = AnnotatorDay.objects.filter(
        project_id=membership.project_id, annotator_id=membership.user_id
    ).aggregate(n=Sum("annotations"), gold=Sum("gold_answers"), ok=Sum("gold_correct"))
    outcomes: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for row in (
        my_work(membership=membership).filter(item__is_gold=False).values("outcome").order_by()
    ):
        outcomes[row["outcome"]] += 1
    decided = outcomes[APPROVED] + outcomes[EDITED] + outcomes[REJECTED]
    report = agreement_report_latest(project=membership.project)
    mine: dict[str, Any] = next(
        (
            r
            for r in (report.annotators if report else [])
            if r.get("user_id") == membership.user_id
        ),
        {},
    )
    gold = days["gold"] or 0
    return Figures(
        annotations=days["n"] or 0,
        gold_answers=gold,
        gold_accuracy=(days["ok"] or 0) / gold if gold else None,
        decided=decided,
        approval_rate=outcomes[APPROVED] / decided if decided else None,
        agreement_with_others=mine.get("agreement_with_others"),
        agreement_pairs=mine.get("agreement_pairs", 0),
    )


def editable(annotation: Annotation) -> bool:
    """Whether its annotator may still change it (annotation.queue.annotation_update says why
    not): a non-gold item still open in the annotation's round."""
    item = annotation.item
    return (
        not item.is_gold
        and item.status in (ItemStatus.OPEN, ItemStatus.STALLED)
        and annotation.round == item.round
    )
