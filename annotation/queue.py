"""The task queue: claims, leases, submits and skips.

Exactness rests on two things. Every decision about an item is made on its row, locked
(`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL): the counters `submitted_count` and
`active_count` live on that row and change in the same transaction as the assignments they
count, so two claimers can never both take an item's last slot. And an annotator has at most
one assignment row per item (a database constraint), so nobody annotates an item twice.
"""

import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from psycopg.types.json import Jsonb

from annotation import kinds, queue_sql
from annotation.events import AnnotationChanged, AnnotationSubmitted, ItemCompleted, ItemStalled
from annotation.models import (
    Annotation,
    Assignment,
    AssignmentStatus,
    Item,
    ItemStatus,
    Membership,
    Project,
    QueueOrder,
    Role,
    SkipReason,
    SuggestionMode,
)
from annotation.rollups import activity_record, tally_move
from core import events, jsonutil
from core.audit import audit_record
from core.db import is_row_id, read_one
from core.errors import ApplicationError, Conflict


def _lease_end(project: Project, now: datetime) -> datetime:
    return now + timedelta(seconds=project.lease_seconds)


def _refresh_lease_counters(item: Item) -> None:
    """Recount the item's active leases and their earliest expiry (the item row is locked)."""
    active = Assignment.objects.filter(item=item, status=AssignmentStatus.ACTIVE).aggregate(
        n=Count("*"), first=Min("expires_at")
    )
    item.active_count, item.lease_expires_at = active["n"], active["first"]


def _expire_stale(item: Item, now: datetime) -> int:
    """Expire the item's leases that ran out (the item row is locked). Returns how many."""
    expired = Assignment.objects.filter(
        item=item, status=AssignmentStatus.ACTIVE, expires_at__lte=now
    ).update(status=AssignmentStatus.EXPIRED, finished_at=now)
    if expired:
        _refresh_lease_counters(item)
    return expired


# --- claim -------------------------------------------------------------------------------------


def _resume(membership: Membership, now: datetime) -> Assignment | None:
    assignment = (
        Assignment.objects.select_related("item")
        .filter(
            project=membership.project, annotator=membership.user, status=AssignmentStatus.ACTIVE
        )
        .order_by("claimed_at")
        .first()
    )
    if assignment is None:
        return None
    if assignment.expires_at <= now:
        item = Item.objects.select_for_update().get(pk=assignment.item_id)
        _expire_stale(item, now)
        item.save(update_fields=["active_count", "lease_expires_at"])
        return None
    # Working on it again counts as activity: the lease restarts.
    assignment.expires_at = _lease_end(membership.project, now)
    assignment.save(update_fields=["expires_at"])
    return assignment


def _seen_by(annotator: Any) -> Exists:
    """A live assignment of this annotator on the item: active, submitted or skipped (an
    expired lease does not count, so the item may come back to them)."""
    return Exists(
        Assignment.objects.filter(item=OuterRef("pk"), annotator=annotator).exclude(
            status=AssignmentStatus.EXPIRED
        )
    )


def _gold_due(membership: Membership) -> bool:
    """Gold items test annotators: reviewers and leads, who can read the items API, are never
    served one (they would learn which items are gold, and leads know it anyway)."""
    rate = membership.project.gold_rate
    return (
        rate > 0
        and membership.role == Role.ANNOTATOR
        and membership.gold_served_count < rate * (membership.served_count + 1)
    )


def _next_gold(membership: Membership) -> Item | None:
    return (
        Item.objects.filter(project=membership.project, is_gold=True, status=ItemStatus.OPEN)
        .filter(~_seen_by(membership.user))
        .order_by("id")
        .select_for_update(skip_locked=True, of=("self",))
        .first()
    )


def _claimable(membership: Membership, now: datetime) -> QuerySet[Item]:
    """Open items with a free slot (or a run-out lease) that this annotator has not seen, in
    queue order: partly annotated first, then by priority, then oldest."""
    project = membership.project
    return (
        Item.objects.filter(project=project, status=ItemStatus.OPEN, is_gold=False)
        .alias(taken=F("submitted_count") + F("active_count"))
        .filter(Q(taken__lt=project.annotations_per_item) | Q(lease_expires_at__lte=now))
        .filter(~_seen_by(membership.user))
        .order_by(*queue_order(project))
    )


def queue_order(project: Project) -> tuple[Any, ...]:
    """The claim's ORDER BY for the project's `queue_order`, each matching one partial index
    of Item (item_queue, item_queue_uncertainty, item_queue_disagreement): partly annotated
    first, then by priority, by the least sure prediction (items without one last), or by
    an earlier disputed round then priority; then oldest."""
    if project.queue_order == QueueOrder.UNCERTAINTY:
        return ("-submitted_count", F("certainty").asc(nulls_last=True), "id")
    if project.queue_order == QueueOrder.DISAGREEMENT:
        return ("-submitted_count", "-disputed", "-priority", "id")
    return ("-submitted_count", "-priority", "id")


# Rows locked by other claimers are skipped, so an empty answer may only mean that the
# items left are being claimed right now (one of their two slots, say). Before saying
# "nothing left" the claim looks again, briefly, while unlocked candidates still exist.
_RECHECK_DELAYS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4)


def _next_item(membership: Membership, now: datetime) -> Item | None:
    """The one indexed query, `SELECT ... FOR UPDATE SKIP LOCKED`."""
    claimable = _claimable(membership, now)
    item = claimable.select_for_update(skip_locked=True, of=("self",)).first()
    for delay in _RECHECK_DELAYS:
        if item is not None or not claimable.exists():
            break
        time.sleep(delay)
        item = claimable.select_for_update(skip_locked=True, of=("self",)).first()
    return item


def _lease(membership: Membership, item: Item, now: datetime) -> Assignment:
    """Create the assignment (or revive this annotator's expired one) on a locked item."""
    display_order = random.choice(["AB", "BA"]) if kinds.kind_get(item.kind).shows_sides else ""
    values = {
        "status": AssignmentStatus.ACTIVE,
        "claimed_at": now,
        "expires_at": _lease_end(membership.project, now),
        "finished_at": None,
        "display_order": display_order,
    }
    revived = Assignment.objects.filter(
        item=item, annotator=membership.user, status=AssignmentStatus.EXPIRED
    ).update(**values)
    if revived:
        assignment = Assignment.objects.get(item=item, annotator=membership.user)
    else:
        assignment = Assignment.objects.create(
            project=membership.project, item=item, annotator=membership.user, **values
        )
    item.active_count += 1
    if item.lease_expires_at is None or assignment.expires_at < item.lease_expires_at:
        item.lease_expires_at = assignment.expires_at
    item.save(update_fields=["active_count", "lease_expires_at"])
    Membership.objects.filter(pk=membership.pk).update(
        served_count=F("served_count") + 1,
        gold_served_count=F("gold_served_count") + int(item.is_gold),
    )
    audit_record(
        actor=membership.user,
        action="assignment.claim",
        obj=assignment,
        project=membership.project,
        after={"item": item.pk, "expires_at": assignment.expires_at.isoformat()},
    )
    return assignment


def assignment_claim_next(*, membership: Membership) -> Assignment | None:
    """The caller's next assignment in queue order, or None when nothing is left for them.

    Queue order: the caller's own active assignment (resume), a gold item when due, items
    already partly annotated, higher priority, older. On PostgreSQL one statement
    (annotation/queue_sql.py) decides and writes; the ORM path below is the reference and
    answers the rare cases (the caller's own lease ran out) and other databases."""
    for _attempt in range(3):
        try:
            if connection.vendor == "postgresql":
                return _claim_fast(membership)
            with transaction.atomic():
                return _claim(membership)
        except IntegrityError:
            # The same annotator claimed in another request at the same moment (two tabs):
            # one active lease per annotator and project is a database constraint, so this
            # claim lost; the next round resumes the one that won.
            continue
    raise Conflict("Could not claim an item because of simultaneous claims; try again.")


def _transaction(needed: bool = False) -> Any:
    """A transaction when one is needed: one statement outside any transaction is one by
    itself (no BEGIN and COMMIT round trips); inside one, a savepoint keeps a failed statement
    from breaking the caller's transaction."""
    if needed or connection.in_atomic_block:
        return transaction.atomic()
    return nullcontext()


def _sided_kinds() -> list[str]:
    return [kind.name for kind in kinds.registry if kind.shows_sides]


def _claim_fast(membership: Membership) -> Assignment | None:
    """The claim as one statement; a transaction of its own, so no lock outlives it."""
    project = membership.project
    for delay in (0, *_RECHECK_DELAYS):
        if delay:
            time.sleep(delay)
        outcome = "full"
        for _ in range(10):  # "full": the picked item's lease hint was stale; pick again
            with _transaction():
                outcome, assignment = queue_sql.claim_once(
                    membership_id=membership.pk,
                    project_id=membership.project_id,
                    user_id=membership.user_id,
                    now=timezone.now(),
                    sided=_sided_kinds(),
                    order=project.queue_order,
                )
            if assignment is not None:
                assignment.project = project
                assignment.item.project = project
                return assignment
            if outcome != "full":
                break
        if outcome == "full":
            break
        if outcome == "stale_own":
            with transaction.atomic():
                return _claim(membership)  # expires the run-out lease, then claims
        if outcome != "locked":
            return None
        # Rows locked by other claimers are skipped: look again while locked ones remain.
    # Still contended: the ORM claim scans the whole queue in order (the reference).
    with transaction.atomic():
        return _claim(membership)


def _claim(membership: Membership) -> Assignment | None:
    now = timezone.now()
    membership = Membership.objects.select_related("project", "user").get(pk=membership.pk)
    resumed = _resume(membership, now)
    if resumed is not None:
        return resumed
    item = _next_gold(membership) if _gold_due(membership) else None
    overlap = membership.project.annotations_per_item
    for _ in range(10):
        if item is not None:
            break
        item = _next_item(membership, now)
        if item is None:
            return None
        if item.submitted_count + item.active_count >= overlap:
            # Offered through a lease that ran out: expire it, and move on should the
            # earliest-expiry hint have been stale.
            _expire_stale(item, now)
            if item.submitted_count + item.active_count >= overlap:
                _refresh_lease_counters(item)
                item.save(update_fields=["active_count", "lease_expires_at"])
                item = None
    if item is None:
        return None
    return _lease(membership, item, now)


# --- the annotator's actions on an assignment --------------------------------------------------


@dataclass
class SubmitResult:
    annotation: Annotation
    created: bool  # False when this was a retry of a submit that had already succeeded


def _locked_assignment(assignment_id: int, annotator: Any) -> Assignment:
    assignment = (
        Assignment.objects.select_for_update(of=("self",))
        .select_related("item", "project")
        .filter(pk=assignment_id, annotator=annotator)
        .first()
    )
    if assignment is None:
        raise Http404("No such assignment.")
    return assignment


def _lease_lost(assignment: Assignment, payload: Any) -> Conflict:
    reason = {
        AssignmentStatus.SKIPPED: "you skipped this item",
        AssignmentStatus.EXPIRED: "the lease expired",
        AssignmentStatus.ACTIVE: "the lease expired",
    }.get(assignment.status, f"the assignment is {assignment.status}")
    return Conflict(
        f"This item is no longer yours to submit: {reason}. Your answer is echoed back so "
        "you can copy it.",
        {"payload": payload, "status": "lease_lost"},
    )


def _clean_submit(*, item: Item, project: Project, payload: Any, seconds_spent: Any) -> None:
    errors = kinds.validate_payload(item.kind, payload, kinds.Vocabulary.of(project))
    if errors:
        raise ApplicationError(
            f"Invalid annotation: {errors[0]['field']}: {errors[0]['message']}",
            {"errors": errors, "payload": payload},
        )
    if seconds_spent is not None and (
        isinstance(seconds_spent, bool)
        or not isinstance(seconds_spent, int | float)
        or not 0 <= seconds_spent <= 7 * 86400
    ):
        raise ApplicationError(
            "seconds_spent must be a number of seconds from 0 to 604800.",
            {"errors": [{"field": "seconds_spent", "message": "Out of range."}]},
        )


def assignment_submit(
    *,
    assignment_id: int,
    annotator: Any,
    payload: Any,
    seconds_spent: float | None = None,
    membership_required: bool = False,
) -> SubmitResult:
    """Submit the annotation of an assignment. Payloads are always in A/B terms.

    A retry of a submit that succeeded returns the stored annotation; a lost lease is a 409
    that echoes the payload back. `membership_required`: a caller who left the project gets
    404 (the API's check, made in the same read).

    On PostgreSQL: one read without locks, the payload checked in Python, then one statement
    that locks the item and the assignment and writes everything (queue_sql.SUBMIT_SQL), so
    no Python runs while the item is locked unless the submit completes the item (the review
    rule then runs in the same transaction) or something unusual happened (the ORM path)."""
    if not is_row_id(assignment_id):
        raise Http404("No such assignment.")
    if connection.vendor != "postgresql":
        return _submit_orm(assignment_id, annotator, payload, seconds_spent, membership_required)
    read = queue_sql.submit_read(assignment_id=assignment_id, user_id=annotator.pk)
    if read is None or (membership_required and not read[3]):
        raise Http404("No such assignment.")
    assignment, item, project, _member = read
    now = timezone.now()
    if assignment.status != AssignmentStatus.ACTIVE or assignment.expires_at <= now:
        return _submit_orm(assignment_id, annotator, payload, seconds_spent)
    _clean_submit(item=item, project=project, payload=payload, seconds_spent=seconds_spent)
    gold_correct = (
        kinds.kind_get(item.kind).gold_matches(item.gold, payload) if item.is_gold else None
    )
    shown, accepted = suggestion_outcome(project=project, item=item, payload=payload)
    params = {
        "assignment": assignment.pk,
        "user": annotator.pk,
        "project": project.pk,
        "now": now,
        "payload": Jsonb(payload),
        "display_order": assignment.display_order,
        "seconds": seconds_spent,
        "guidelines_version": project.guidelines_version,
        "rubric_version": project.rubric_version,
        "gold_correct": gold_correct,
        "shown": shown,
        "accepted": accepted,
        "day": timezone.localdate(now),
        "gold_answers": int(gold_correct is not None),
        "gold_right": int(gold_correct is True),
    }
    # A submit that leaves the item open is one statement, a transaction of its own; one that
    # completes it runs the review rule in the same transaction (ItemCompleted).
    completing = not item.is_gold and item.submitted_count + 1 >= project.annotations_per_item
    for may_complete in (False, True) if not completing else (True,):
        with _transaction(may_complete):
            row = read_one(queue_sql.SUBMIT_SQL, {**params, "may_complete": may_complete})
            if row is None:
                if not may_complete:
                    continue  # another annotator submitted meanwhile: this one may complete
                # the lease was lost meanwhile (or the item left the queue)
                return _submit_orm(assignment_id, annotator, payload, seconds_spent)
            annotation_id, round_, submitted, _active, overlap, is_gold, someone_left = row
            events.announce(
                AnnotationSubmitted(
                    project_id=project.pk,
                    item_id=item.pk,
                    annotation_id=annotation_id,
                    annotator_id=annotator.pk,
                    is_gold=is_gold,
                )
            )
            if not is_gold and submitted >= overlap:
                events.announce(ItemCompleted(project_id=project.pk, item_id=item.pk))
        break
    if not someone_left:
        with transaction.atomic():
            locked = Item.objects.select_for_update().get(pk=item.pk)
            item_stall_if_nobody_left(item=locked, project=project)
    annotation = Annotation(
        pk=annotation_id,
        project=project,
        item_id=item.pk,
        annotator=annotator,
        assignment_id=assignment.pk,
        payload=payload,
        display_order=assignment.display_order,
        seconds_spent=seconds_spent,
        guidelines_version=project.guidelines_version,
        rubric_version=project.rubric_version,
        gold_correct=gold_correct,
        round=round_,
        suggestion_shown=shown,
        suggestion_accepted=accepted,
        created_at=now,
    )
    annotation._state.adding, annotation._state.db = False, connection.alias
    return SubmitResult(annotation=annotation, created=True)


@transaction.atomic
def _submit_orm(
    assignment_id: int,
    annotator: Any,
    payload: Any,
    seconds_spent: float | None,
    membership_required: bool = False,
) -> SubmitResult:
    """The submit by the ORM: other databases, and the unusual cases of the PostgreSQL path
    (which has checked the membership already)."""
    assignment = _locked_assignment(assignment_id, annotator)
    if (
        membership_required
        and not Membership.objects.filter(
            project_id=assignment.project_id, user_id=annotator.pk
        ).exists()
    ):
        raise Http404("No such assignment.")
    if assignment.status == AssignmentStatus.SUBMITTED:
        annotation = Annotation.objects.get(assignment=assignment)
        if annotation.payload != payload:
            raise Conflict(
                "This item was already submitted with a different answer; a submitted "
                "annotation does not change.",
                {"payload": payload, "status": "already_submitted", "annotation": annotation.pk},
            )
        return SubmitResult(annotation=annotation, created=False)
    now = timezone.now()
    if assignment.status != AssignmentStatus.ACTIVE or assignment.expires_at <= now:
        raise _lease_lost(assignment, payload)
    project = assignment.project
    _clean_submit(
        item=assignment.item, project=project, payload=payload, seconds_spent=seconds_spent
    )
    item = Item.objects.select_for_update().get(pk=assignment.item_id)
    gold_correct = (
        kinds.kind_get(item.kind).gold_matches(item.gold, payload) if item.is_gold else None
    )
    shown, accepted = suggestion_outcome(project=project, item=item, payload=payload)
    annotation = Annotation.objects.create(
        project=project,
        item=item,
        annotator=annotator,
        assignment=assignment,
        payload=payload,
        display_order=assignment.display_order,
        seconds_spent=seconds_spent,
        guidelines_version=project.guidelines_version,
        rubric_version=project.rubric_version,
        gold_correct=gold_correct,
        round=item.round,
        suggestion_shown=shown,
        suggestion_accepted=accepted,
    )
    activity_record(annotation=annotation)
    item.submitted_count += 1
    completes = item.submitted_count >= project.annotations_per_item
    assignment.status, assignment.finished_at, assignment.draft = (
        AssignmentStatus.SUBMITTED,
        now,
        None,
    )
    assignment.queue_pending = not item.is_gold and not completes
    assignment.queue_priority = item.priority
    assignment.save(
        update_fields=["status", "finished_at", "draft", "queue_pending", "queue_priority"]
    )
    if completes:
        Assignment.objects.filter(item=item, queue_pending=True).exclude(pk=assignment.pk).update(
            queue_pending=False
        )
    _refresh_lease_counters(item)
    item.save(update_fields=["submitted_count", "active_count", "lease_expires_at"])
    audit_record(
        actor=annotator,
        action="annotation.submit",
        obj=annotation,
        project=project,
        after={"item": item.pk, "payload": payload},
    )
    events.announce(
        AnnotationSubmitted(
            project_id=project.pk,
            item_id=item.pk,
            annotation_id=annotation.pk,
            annotator_id=annotator.pk,
            is_gold=item.is_gold,
        )
    )
    # Gold items are answered, never completed: they stay in every annotator's queue.
    if not item.is_gold and item.submitted_count >= project.annotations_per_item:
        events.announce(ItemCompleted(project_id=project.pk, item_id=item.pk))
    else:
        item_stall_if_nobody_left(item=item, project=project)
    return SubmitResult(annotation=annotation, created=True)


MAX_SKIP_NOTE = 2_000


def _clean_skip(reason: Any, note: Any, flag: Any) -> tuple[str, str, bool]:
    errors = []
    if reason is None:
        reason = ""
    if reason != "" and reason not in SkipReason.values:
        errors.append(
            {"field": "reason", "message": f"Not one of: {', '.join(SkipReason.values)}."}
        )
    if note is None:
        note = ""
    if not isinstance(note, str) or len(note) > MAX_SKIP_NOTE or kinds.unstorable(note):
        errors.append(
            {"field": "note", "message": f"Text of at most {MAX_SKIP_NOTE:,} characters."}
        )
    elif reason == SkipReason.OTHER and not note.strip():
        errors.append({"field": "note", "message": "Say what is wrong when the reason is other."})
    if not isinstance(flag, bool):
        errors.append({"field": "flag", "message": "Must be true or false."})
    if errors:
        raise ApplicationError(f"{errors[0]['field']}: {errors[0]['message']}", {"errors": errors})
    return reason, note.strip(), flag


def suggestion_outcome(*, project: Project, item: Item, payload: dict) -> tuple[bool, bool | None]:
    """Whether the annotator was shown a model's suggested labels, and whether the answer
    kept every one of them (None when none was shown)."""
    suggested = kinds.kind_get(item.kind).suggestions(item.data)
    if not suggested or project.suggestions == SuggestionMode.HIDDEN:
        return False, None
    return True, all(payload.get(name) == value for name, value in suggested.items())


@transaction.atomic
def assignment_skip(
    *, assignment_id: int, annotator: Any, reason: Any = "", note: Any = "", flag: Any = False
) -> Assignment:
    """Give the item back, with an optional reason and note, and a flag for the lead; it is
    not offered to this annotator again. An item nobody can take any more becomes stalled."""
    reason, note, flag = _clean_skip(reason, note, flag)
    assignment = _locked_assignment(assignment_id, annotator)
    if assignment.status == AssignmentStatus.SKIPPED:
        return assignment
    if assignment.status == AssignmentStatus.SUBMITTED:
        raise Conflict("This item was already submitted; it cannot be skipped.")
    now = timezone.now()
    item = Item.objects.select_for_update().get(pk=assignment.item_id)
    assignment.status, assignment.finished_at = AssignmentStatus.SKIPPED, now
    assignment.skip_reason, assignment.skip_note, assignment.flagged = reason, note, flag
    assignment.save(update_fields=["status", "finished_at", "skip_reason", "skip_note", "flagged"])
    _refresh_lease_counters(item)
    item.save(update_fields=["active_count", "lease_expires_at"])
    audit_record(
        actor=annotator,
        action="assignment.skip",
        obj=assignment,
        project=assignment.project,
        after={"item": item.pk, "reason": reason, "note": note, "flag": flag},
    )
    item_stall_if_nobody_left(item=item, project=assignment.project)
    return assignment


@transaction.atomic
def annotation_update(*, annotation_id: Any, annotator: Any, payload: Any) -> Annotation:
    """An annotator changes an annotation they submitted, while its item is still open in the
    annotation's round; after that it is read-only (409). Gold answers never change once
    submitted (their expected answer is shown then). Every change is audited."""
    annotation = (
        Annotation.objects.select_for_update(of=("self",))
        .select_related("project")
        .filter(pk=annotation_id, annotator_id=getattr(annotator, "pk", None))
        .first()
    )
    if annotation is None:
        raise Http404("No such annotation.")
    item = Item.objects.select_for_update().get(pk=annotation.item_id)
    project = annotation.project
    if item.is_gold:
        raise Conflict("A gold answer does not change once submitted.", {"status": "gold"})
    if item.status not in (ItemStatus.OPEN, ItemStatus.STALLED) or annotation.round != item.round:
        raise Conflict(
            "The item has completed, so its annotations are read-only now "
            f"(it is {item.get_status_display().lower()}).",
            {"status": item.status, "payload": payload},
        )
    errors = kinds.validate_payload(item.kind, payload, kinds.Vocabulary.of(project))
    if errors:
        raise ApplicationError(
            f"Invalid annotation: {errors[0]['field']}: {errors[0]['message']}",
            {"errors": errors, "payload": payload},
        )
    if payload == annotation.payload:
        return annotation
    before = annotation.payload
    shown, accepted = suggestion_outcome(project=project, item=item, payload=payload)
    annotation.payload, annotation.updated_at = payload, timezone.now()
    annotation.suggestion_accepted = accepted if shown else None
    # Checked against the rubric of now, so made under it (the report reads the scores by it).
    annotation.rubric_version = project.rubric_version
    annotation.save(
        update_fields=["payload", "updated_at", "suggestion_accepted", "rubric_version"]
    )
    audit_record(
        actor=annotator,
        action="annotation.change",
        obj=annotation,
        project=project,
        before={"payload": before},
        after={"payload": payload},
    )
    events.announce(
        AnnotationChanged(
            project_id=project.pk,
            item_id=item.pk,
            annotation_id=annotation.pk,
            annotator_id=annotation.annotator_id,
        )
    )
    return annotation


# --- items nobody can take --------------------------------------------------------------------


def _nobody_left(item: Item) -> bool:
    """Every member of the project holds a live assignment on the item (active, submitted or
    skipped): nobody may still be served it."""
    live = Assignment.objects.filter(item=item).exclude(status=AssignmentStatus.EXPIRED)
    return not (
        Membership.objects.filter(project_id=item.project_id)
        .exclude(user_id__in=live.values("annotator_id"))
        .exists()
    )


def item_stall_if_nobody_left(*, item: Item, project: Project) -> bool:
    """Mark an open item stalled when it still needs annotations but nobody who may annotate
    it can take it any more (the item row is locked). Gold items are answered, never
    completed, so they do not stall. Returns whether it stalled."""
    if (
        item.status != ItemStatus.OPEN
        or item.is_gold
        or item.active_count
        or item.submitted_count >= project.annotations_per_item
        or not _nobody_left(item)
    ):
        return False
    item.status = ItemStatus.STALLED
    item.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=None,
        action="item.stall",
        obj=item,
        project=project,
        before={"status": ItemStatus.OPEN},
        after={"status": item.status, "round": item.round},
    )
    tally_move(item=item, before=ItemStatus.OPEN)
    events.announce(ItemStalled(project_id=project.pk, item_id=item.pk, round=item.round))
    return True


def item_next_round(*, item: Item, project: Project) -> None:
    """Open the item again for fresh annotations (the item row is locked): its annotations
    stay for the record and the agreement history, its slots open for members who have not
    annotated it, its round goes up. Stalls at once when nobody is left.

    A round ends here only when its work was not accepted (a reviewer rejected it and asked
    for fresh annotations, or a lead re-queued an item a reviewer rejected or dropped), so
    the item is marked `disputed`: `queue_order: disagreement` serves it first."""
    before = item.status
    item.status, item.agreement, item.review_reason = ItemStatus.OPEN, "", ""
    item.round += 1
    item.submitted_count = 0
    item.disputed = True
    item.save(
        update_fields=[
            "status",
            "agreement",
            "review_reason",
            "round",
            "submitted_count",
            "disputed",
            "updated_at",
        ]
    )
    tally_move(item=item, before=before)
    item_stall_if_nobody_left(item=item, project=project)


@transaction.atomic
def item_requeue(*, item_id: int, actor: Any, project: Project) -> Item:
    """A lead opens a stalled, dropped or rejected item again for everyone: those who skipped
    it may be served it again; an item whose round was complete starts the next round."""
    item = Item.objects.select_for_update().filter(pk=item_id, project=project).first()
    if item is None:
        raise Http404("No such item in this project.")
    requeueable = (ItemStatus.STALLED, ItemStatus.DROPPED, ItemStatus.REJECTED)
    if item.status not in requeueable:
        raise Conflict(
            f"Only a stalled, dropped or rejected item can be re-queued (it is {item.status}).",
            {"status": item.status},
        )
    before = {"status": item.status, "round": item.round}
    freed = Assignment.objects.filter(item=item, status=AssignmentStatus.SKIPPED).update(
        status=AssignmentStatus.EXPIRED
    )
    if item.submitted_count >= project.annotations_per_item:
        item_next_round(item=item, project=project)
    else:
        status = item.status
        item.status = ItemStatus.OPEN
        item.save(update_fields=["status", "updated_at"])
        tally_move(item=item, before=status)
        item_stall_if_nobody_left(item=item, project=project)
    audit_record(
        actor=actor,
        action="item.requeue",
        obj=item,
        project=project,
        before=before,
        after={"status": item.status, "round": item.round, "skips_cleared": freed},
    )
    return item


@transaction.atomic
def item_drop(*, item_id: int, actor: Any, project: Project, note: str = "") -> Item:
    """A lead takes an open or stalled item out of the data (kept in the audit; a lead can
    re-queue it). Leases on it end. Items in review are dropped by a reviewer's rejection,
    approved ones are sent back to review first."""
    item = Item.objects.select_for_update().filter(pk=item_id, project=project).first()
    if item is None:
        raise Http404("No such item in this project.")
    if item.status not in (ItemStatus.OPEN, ItemStatus.STALLED):
        raise Conflict(
            f"Only an open or stalled item can be dropped here (it is {item.status}); an item "
            "in review is dropped by rejecting it.",
            {"status": item.status},
        )
    before = item.status
    if item.active_count:
        Assignment.objects.filter(item=item, status=AssignmentStatus.ACTIVE).update(
            status=AssignmentStatus.EXPIRED, finished_at=timezone.now()
        )
        _refresh_lease_counters(item)
    item.status = ItemStatus.DROPPED
    item.save(update_fields=["status", "active_count", "lease_expires_at", "updated_at"])
    audit_record(
        actor=actor,
        action="item.drop",
        obj=item,
        project=project,
        before={"status": before},
        after={"status": item.status, "note": note},
    )
    tally_move(item=item, before=before)
    return item


def items_stall_after_leaving(*, project: Project) -> int:
    """A member left (or the overlap went up): the open items that every remaining member
    already holds (or has skipped or annotated) stall. One grouped read of the project's
    live assignments finds them; each is then checked again under its row lock. Runs in the
    caller's transaction, after the change. Returns how many stalled."""
    members = Membership.objects.filter(project=project).values("user_id")
    remaining = Membership.objects.filter(project=project).count()
    candidates = (
        Assignment.objects.filter(
            project=project,
            annotator_id__in=members,
            item__status=ItemStatus.OPEN,
            item__is_gold=False,
        )
        .exclude(status=AssignmentStatus.EXPIRED)
        .values("item_id")
        .annotate(holders=Count("annotator_id", distinct=True))
        .filter(holders__gte=remaining)
        .values_list("item_id", flat=True)
    )
    count = 0
    for item in Item.objects.select_for_update().filter(pk__in=list(candidates)).order_by("pk"):
        count += item_stall_if_nobody_left(item=item, project=project)
    return count


def items_unstall(*, project: Project) -> int:
    """A new member can take the project's stalled items: they open again. Returns how many."""
    count = 0
    stalled = Item.objects.select_for_update().filter(project=project, status=ItemStatus.STALLED)
    for item in stalled.order_by("pk"):
        item.status = ItemStatus.OPEN
        item.save(update_fields=["status", "updated_at"])
        tally_move(item=item, before=ItemStatus.STALLED)
        count += 1
    return count


@transaction.atomic
def assignment_heartbeat(*, assignment_id: int, annotator: Any) -> Assignment:
    """Extend the lease while the annotator works; 409 once it is lost."""
    assignment = _locked_assignment(assignment_id, annotator)
    now = timezone.now()
    if assignment.status != AssignmentStatus.ACTIVE or assignment.expires_at <= now:
        raise _lease_lost(assignment, None)
    item = Item.objects.select_for_update().get(pk=assignment.item_id)
    assignment.expires_at = _lease_end(assignment.project, now)
    assignment.save(update_fields=["expires_at"])
    _refresh_lease_counters(item)
    item.save(update_fields=["active_count", "lease_expires_at"])
    return assignment


MAX_DRAFT_BYTES = 1024 * 1024


@transaction.atomic
def assignment_draft_save(*, assignment_id: int, annotator: Any, draft: Any) -> Assignment:
    """Keep the typed, unsubmitted answer on the server. Allowed on a lost lease too, so the
    text survives until the annotator has copied it."""
    assignment = _locked_assignment(assignment_id, annotator)
    if assignment.status == AssignmentStatus.SUBMITTED:
        raise Conflict("This item was already submitted.")
    if not isinstance(draft, dict):
        raise ApplicationError("A draft is a JSON object of the form's fields.")
    if len(jsonutil.dumps(draft)) > MAX_DRAFT_BYTES or kinds.unstorable(draft):
        raise ApplicationError("The draft is too large (1 MB at most) or holds NUL characters.")
    assignment.draft, assignment.draft_saved_at = draft, timezone.now()
    assignment.save(update_fields=["draft", "draft_saved_at"])
    return assignment


def assignments_end(*, project: Project, annotator: Any) -> int:
    """Expire the annotator's active leases in the project (a member removed): their slots
    are free at once. Returns how many ended. Runs in the caller's transaction."""
    now = timezone.now()
    item_ids = list(
        Assignment.objects.filter(
            project=project, annotator=annotator, status=AssignmentStatus.ACTIVE
        ).values_list("item_id", flat=True)
    )
    for item in Item.objects.select_for_update().filter(pk__in=item_ids).order_by("pk"):
        Assignment.objects.filter(
            item=item, annotator=annotator, status=AssignmentStatus.ACTIVE
        ).update(status=AssignmentStatus.EXPIRED, finished_at=now)
        _refresh_lease_counters(item)
        item.save(update_fields=["active_count", "lease_expires_at"])
    return len(item_ids)


def items_complete_full(*, project: Project) -> int:
    """Complete the open and stalled items that hold as many annotations as the overlap asks
    for (after the overlap was lowered): a stalled one waited for annotations it no longer
    needs. Leases still on them end first (their annotators are told the lease was lost and
    keep their text), so no item gets more than its overlap. Returns how many items
    completed. Runs in the caller's transaction, the project row locked."""
    full = (
        Item.objects.select_for_update()
        .filter(
            project=project,
            status__in=(ItemStatus.OPEN, ItemStatus.STALLED),
            is_gold=False,
            submitted_count__gte=project.annotations_per_item,
        )
        .order_by("pk")
    )
    now = timezone.now()
    count = 0
    for item in full:
        if item.status == ItemStatus.STALLED:
            item.status = ItemStatus.OPEN  # completion starts from an open item
            item.save(update_fields=["status", "updated_at"])
            tally_move(item=item, before=ItemStatus.STALLED)
        if item.active_count:
            Assignment.objects.filter(item=item, status=AssignmentStatus.ACTIVE).update(
                status=AssignmentStatus.EXPIRED, finished_at=now
            )
            _refresh_lease_counters(item)
            item.save(update_fields=["active_count", "lease_expires_at"])
        events.announce(ItemCompleted(project_id=project.pk, item_id=item.pk))
        count += 1
    return count


# --- expiry --------------------------------------------------------------------------------------


def assignments_expire(*, batch: int = 500) -> int:
    """Mark leases that ran out as expired and free their slots; returns the number of items
    freed. Run periodically: the claim already treats a run-out lease as free, so this keeps
    the counters and the annotators' resume state tidy."""
    now = timezone.now()
    total = 0
    while True:
        item_ids = list(
            Assignment.objects.filter(status=AssignmentStatus.ACTIVE, expires_at__lte=now)
            .values_list("item_id", flat=True)
            .distinct()[:batch]
        )
        if not item_ids:
            return total
        for item_id in item_ids:
            with transaction.atomic():
                item = Item.objects.select_for_update().filter(pk=item_id).first()
                if item is not None and _expire_stale(item, now):
                    item.save(update_fields=["active_count", "lease_expires_at"])
                    total += 1
        if len(item_ids) < batch:
            return total
