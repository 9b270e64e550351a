"""Guards against automation bias: what a reviewer sees of an item's prediction, and how their
decisions on it are graded.

* A reviewer never sees a prediction's confidence or model name: only its payload (here, the
  review page and the review claim API; the items API leaves the prediction out for them).
* With the project's `review_prediction` at `after_judgement`, the prediction is revealed only
  once the reviewer recorded their own judgement (`review_judgement_record`); that blind
  judgement is kept and is what their figures are graded on.
* Review gold: at the project's `review_gold_rate`, drawn by a stable hash of the item (the same
  items on every run, like routing's audit draw), a reviewer is shown a deliberately wrong
  prediction that the item's kind makes (`ItemKind.seeded_wrong`). It is kept on the check only:
  the item's prediction, its final record and every export stay as they were.

Each (reviewer, item) gets a PredictionCheck when the reviewer is handed the item; the decision
grades it (`prediction_check_grade`, called by `review_decide` in its transaction).
"""

from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from annotation import kinds
from annotation.models import Annotation, Item, ItemStatus, Project, ReviewPrediction
from core.audit import audit_record
from core.draws import stable_draw
from core.errors import ApplicationError, Conflict
from review.models import PredictionCheck, Review, ReviewDecision, ReviewLease, ReviewLeaseStatus


def review_gold_draw(project_id: int, external_id: str) -> float:
    """A stable number in [0, 1) per item: below `review_gold_rate` means seeded."""
    return stable_draw(f"review-gold:{project_id}:{external_id}")


def seeded_payload(project: Project, item: Item) -> dict | None:
    """The wrong prediction a reviewer of `item` is shown instead of the real one, or None
    when the item is not drawn (or its kind cannot make a wrong version of this answer)."""
    if not item.prediction or project.review_gold_rate <= 0:
        return None
    if review_gold_draw(project.pk, item.external_id) >= project.review_gold_rate:
        return None
    kind = kinds.kind_get(item.kind)
    wrong = kind.seeded_wrong(item.prediction["payload"], kinds.Vocabulary.of(project))
    if wrong is None or kind.prediction_correct(item.prediction["payload"], wrong):
        return None
    return wrong


def hides_until_judged(project: Project) -> bool:
    return project.review_prediction == ReviewPrediction.AFTER_JUDGEMENT


def prediction_check_open(*, lease: ReviewLease, item: Item) -> PredictionCheck | None:
    """The reviewer's open check of the item they hold (made the first time they are handed
    it; None when the item has no prediction). What it shows is fixed when it is made."""
    if not item.prediction:
        return None
    found = PredictionCheck.objects.filter(
        item=item, reviewer_id=lease.reviewer_id, decided_at__isnull=True
    ).first()
    if found is not None:
        return found
    project = item.project
    wrong = seeded_payload(project, item)
    try:
        with transaction.atomic():
            return PredictionCheck.objects.create(
                project_id=item.project_id,
                item=item,
                reviewer_id=lease.reviewer_id,
                round=item.round,
                seeded=wrong is not None,
                shown=wrong if wrong is not None else item.prediction["payload"],
                claimed_at=lease.claimed_at,
            )
    except IntegrityError:  # the same reviewer's other tab made it at the same moment
        return PredictionCheck.objects.get(
            item=item, reviewer_id=lease.reviewer_id, decided_at__isnull=True
        )


def _open_check(item: Item, reviewer: Any) -> PredictionCheck | None:
    return (
        PredictionCheck.objects.select_for_update()
        .filter(item=item, reviewer_id=reviewer.pk, decided_at__isnull=True)
        .first()
    )


@transaction.atomic
def review_judgement_record(
    *, item_id: int, reviewer: Any, annotation_id: int | None = None, final: Any = None
) -> PredictionCheck:
    """Record the reviewer's own answer to an item they hold before its prediction is shown
    (an annotation they would approve as is, or a final they wrote, A/B terms): the
    prediction is revealed after this, and the answer is kept to grade them. 409 when they do
    not hold the item or already recorded one; 400 for an answer that is not one."""
    item = Item.objects.select_related("project").filter(pk=item_id).first()
    if item is None:
        raise Http404("No such item.")
    if item.status != ItemStatus.IN_REVIEW:
        raise Conflict(f"This item is not waiting for review (it is {item.status}).")
    lease = ReviewLease.objects.filter(
        item=item,
        reviewer_id=reviewer.pk,
        status=ReviewLeaseStatus.ACTIVE,
        expires_at__gt=timezone.now(),
    ).first()
    if lease is None:
        raise Conflict("Claim the item first (the review claim): you do not hold it.")
    if not item.prediction:
        raise Conflict("This item has no model answer to judge against: decide it.")
    if not hides_until_judged(item.project):
        raise Conflict(
            "This project shows the model's answer with the item (review_prediction: shown): "
            "there is no judgement step; decide the item."
        )
    prediction_check_open(lease=lease, item=item)
    check = _open_check(item, reviewer)
    if check.judgement is not None:
        raise Conflict(
            "Your judgement on this item is already recorded; decide it now.",
            {"judgement": check.judgement},
        )
    answer = _answer(item, annotation_id, final)
    check.judgement, check.judged_at = answer, timezone.now()
    check.save(update_fields=["judgement", "judged_at"])
    audit_record(
        actor=reviewer,
        action="review.judgement",
        obj=item,
        project=item.project,
        after={"judgement": answer, "check": check.pk},
    )
    return check


def _answer(item: Item, annotation_id: int | None, final: Any) -> dict:
    if (annotation_id is None) == (final is None):
        raise ApplicationError(
            "Your judgement is one annotation you would approve as is, or a final you wrote.",
            {"errors": [{"field": "annotation", "message": "Give annotation or final."}]},
        )
    if annotation_id is not None:
        annotation = Annotation.objects.filter(
            pk=annotation_id, item=item, round=item.round
        ).first()
        if annotation is None:
            raise ApplicationError(
                "That annotation does not belong to this item.",
                {"errors": [{"field": "annotation", "message": "Not an annotation of the item."}]},
            )
        return annotation.payload
    errors = kinds.validate_payload(item.kind, final, kinds.Vocabulary.of(item.project))
    if errors:
        raise ApplicationError(
            f"Invalid final: {errors[0]['field']}: {errors[0]['message']}",
            {"errors": errors, "final": final},
        )
    return final


def judgement_required(*, item: Item, reviewer: Any, decision: str) -> None:
    """An approval of an item whose prediction is still hidden from the reviewer (they hold
    it, the project shows predictions after a judgement, none recorded) is refused: the
    judgement comes first. A rejection needs none."""
    if decision != ReviewDecision.APPROVE or not hides_until_judged(item.project):
        return
    check = PredictionCheck.objects.filter(
        item=item, reviewer_id=reviewer.pk, decided_at__isnull=True
    ).first()
    if check is not None and check.judgement is None:
        raise ApplicationError(
            "Record your own judgement first (the judgement step); the model's answer is "
            "shown after it, then you decide.",
            {"errors": [{"field": "judgement", "message": "Required before deciding."}]},
        )


def prediction_check_grade(*, item: Item, reviewer: Any, review: Review) -> None:
    """Grade the reviewer's open check of the item with their decision (in its transaction):
    the answer is their blind judgement when they recorded one, else the final they approved
    (a rejection without a judgement is not graded); `agreed` compares it with what they were
    shown by the kind's agreement rule."""
    check = _open_check(item, reviewer)
    if check is None:
        return
    now = timezone.now()
    lease = (
        ReviewLease.objects.filter(item=item, reviewer_id=reviewer.pk)
        .order_by("-claimed_at")
        .values_list("claimed_at", flat=True)
        .first()
    )
    started = lease or check.claimed_at
    kind = kinds.kind_get(item.kind)
    final = None
    if review.decision == ReviewDecision.APPROVE:
        final = review.final if review.annotation_id is None else review.annotation.payload
    answer = check.judgement if check.judgement is not None else final
    check.review, check.answer, check.decided_at = review, answer, now
    check.seconds = max(0.0, (now - started).total_seconds())
    check.agreed = kind.prediction_correct(check.shown, answer) if answer is not None else None
    check.final_agreed = kind.prediction_correct(check.shown, final) if final is not None else None
    check.save(
        update_fields=["review", "answer", "agreed", "final_agreed", "decided_at", "seconds"]
    )


# --- what a reviewer reads ---------------------------------------------------------------------


@dataclass
class PredictionView:
    """The prediction as one reviewer may read it: never its confidence or model name."""

    hidden: bool  # until they record their judgement
    payload: dict | None  # A/B terms; None while hidden
    rows: list[kinds.ReviewRow] = field(default_factory=list)  # as displayed
    judgement_rows: list[kinds.ReviewRow] = field(default_factory=list)
    judged: bool = False


def prediction_view(
    check: PredictionCheck | None, *, project: Project, display_order: str = "AB"
) -> PredictionView | None:
    if check is None:
        return None
    kind = kinds.kind_get(check.item.kind)
    judged = check.judgement is not None
    hidden = hides_until_judged(project) and not judged
    judgement_rows = (
        kind.review_rows(kind.to_display(check.judgement, display_order), []) if judged else []
    )
    if hidden:
        return PredictionView(hidden=True, payload=None, judged=judged)
    return PredictionView(
        hidden=False,
        payload=check.shown,
        rows=kind.review_rows(kind.to_display(check.shown, display_order), []),
        judgement_rows=judgement_rows,
        judged=judged,
    )
