"""What happens to an item once its annotations are in: agreement, review routing, approval."""

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.http import Http404
from django.utils import timezone
from psycopg.types.json import Jsonb

from annotation import kinds
from annotation.models import (
    Agreement,
    Annotation,
    Item,
    ItemStatus,
    Project,
    ReviewReason,
)
from annotation.queue import item_next_round
from annotation.rollups import tally_move
from core import events
from core.audit import audit_record
from core.db import execute, model_columns, model_instances, model_width, read_one, typed
from core.draws import stable_draw
from core.errors import ApplicationError, Conflict, PermissionDenied
from review import guards
from review.events import ItemApproved, ItemRejected, ItemReopened
from review.models import (
    AfterReject,
    FinalRecord,
    Provenance,
    Review,
    ReviewDecision,
    ReviewLease,
    ReviewLeaseStatus,
    ReviewSkip,
)
from review.selectors import review_claimable


def in_review_sample(item: Item, rate: float) -> bool:
    """A stable draw per item: the same item always falls the same way for a given rate."""
    if rate <= 0:
        return False
    return stable_draw(f"review-sample:{item.pk}") < rate


def _route(item: Item, project: Project, annotations: list[Annotation]) -> tuple[bool, str]:
    """The item-level rule: whether the annotations agree, and why the item goes to review
    ("" when it is approved as it is)."""
    kind = kinds.kind_get(item.kind)
    agreed = kind.agrees([a.payload for a in annotations])
    if not agreed:
        reason = ReviewReason.DISPUTED
    elif kind.needs_final_text and not project.auto_approve_text:
        reason = ReviewReason.TEXT
    elif in_review_sample(item, project.review_sample_rate):
        reason = ReviewReason.SAMPLED
    else:
        reason = ""
    return agreed, reason


def item_complete(*, item: Item, project: Project) -> Item:
    """Apply the item-level rule when the last annotation arrives (the item row is locked).

    Agreed preferences are approved (or sampled into review); agreed instruction and refusal
    items still need a reviewer to pick the final text unless the project auto-approves them;
    disputed items go to review."""
    annotations = list(Annotation.objects.filter(item=item, round=item.round).order_by("id"))
    kind = kinds.kind_get(item.kind)
    agreed, reason = _route(item, project, annotations)
    before = {"status": item.status}
    item.agreement = Agreement.AGREED if agreed else Agreement.DISPUTED
    if reason:
        item.status, item.review_reason = ItemStatus.IN_REVIEW, reason
    else:
        item.status, item.review_reason = ItemStatus.APPROVED, ""
        representative = kind.representative(annotations)
        record = final_record_create(
            item=item,
            payload=representative.payload,
            provenance=Provenance.UNANIMOUS,
            source=representative,
            approved_by=None,
        )
        _announce_approved(record, reviewer=None)
    item.save(update_fields=["status", "agreement", "review_reason", "updated_at"])
    audit_record(
        actor=None,
        action="item.complete",
        obj=item,
        project=project,
        before=before,
        after={"status": item.status, "agreement": item.agreement, "review_reason": reason},
    )
    tally_move(item=item, before=before["status"])
    return item


def item_complete_by_id(*, item_id: int) -> None:
    """`item_complete` for the submit that completed the item, in its transaction: on
    PostgreSQL one read (the item locked, its project and the round's annotations) and one
    write (status, final record, audit, tally), instead of seven ORM statements."""
    if connection.vendor != "postgresql":
        item = Item.objects.select_for_update().select_related("project").get(pk=item_id)
        if item.status == ItemStatus.OPEN:
            item_complete(item=item, project=item.project)
        return
    with execute(_COMPLETION_READ, {"item": item_id}) as cursor:
        rows = cursor.fetchall()
    item, project, _, current_final = model_instances(rows[0], Item, Project, Annotation)
    item.project = project
    if item.status != ItemStatus.OPEN:
        return
    if current_final:  # a current final record of an earlier round: the ORM path retires it
        item_complete(item=item, project=project)
        return
    p = model_width(Item) + model_width(Project)
    annotations = [model_instances(row[p:], Annotation)[0] for row in rows if row[p] is not None]
    agreed, reason = _route(item, project, annotations)
    agreement = Agreement.AGREED if agreed else Agreement.DISPUTED
    status = ItemStatus.IN_REVIEW if reason else ItemStatus.APPROVED
    source, category, decision = None, "", ""
    if not reason:
        source = kinds.kind_get(item.kind).representative(annotations)
        category, decision = kinds.kind_get(item.kind).coverage_labels(source.payload)
    params = {
        "item": item.pk,
        "project": project.pk,
        "kind": item.kind,
        "is_gold": item.is_gold,
        "status": status,
        "agreement": agreement,
        "reason": reason,
        "now": timezone.now(),
        "approve": source is not None,
        "payload": Jsonb(source.payload if source else None),
        "category": category,
        "decision": decision,
        "source": source.pk if source else None,
        "provenance": Provenance.UNANIMOUS,
        "before": Jsonb({"status": ItemStatus.OPEN}),
        "after": Jsonb({"status": status, "agreement": agreement, "review_reason": reason}),
    }
    record_id = read_one(_COMPLETION_WRITE, params)[0]
    if record_id is not None:
        events.announce(
            ItemApproved(
                project_id=project.pk,
                item_id=item.pk,
                final_record_id=record_id,
                provenance=Provenance.UNANIMOUS,
                reviewer_id=None,
            )
        )


# Each parameter's type: the statements are prepared (core.db.execute), where an untyped NULL
# (no source, no payload) would be read as text.
_COMPLETION_TYPES = {
    "after": "jsonb",
    "agreement": "text",
    "approve": "boolean",
    "before": "jsonb",
    "category": "text",
    "decision": "text",
    "is_gold": "boolean",
    "item": "bigint",
    "kind": "text",
    "now": "timestamptz",
    "payload": "jsonb",
    "project": "bigint",
    "provenance": "text",
    "reason": "text",
    "source": "bigint",
    "status": "text",
}

_COMPLETION_READ = typed(
    f"""
SELECT {model_columns(Item, "i")}, {model_columns(Project, "p")},
       {model_columns(Annotation, "n")},
       EXISTS (SELECT 1 FROM review_finalrecord f WHERE f.item_id = i.id AND f.is_current)
FROM annotation_item i
JOIN annotation_project p ON p.id = i.project_id
LEFT JOIN annotation_annotation n ON n.item_id = i.id AND n.round = i.round
WHERE i.id = %(item)s
ORDER BY n.id
FOR UPDATE OF i
""",  # noqa: S608 (no user input: names of tables and columns)
    _COMPLETION_TYPES,
)

_COMPLETION_WRITE = typed(
    """
WITH routed AS (
    UPDATE annotation_item SET status = %(status)s, agreement = %(agreement)s,
        review_reason = %(reason)s, updated_at = %(now)s
    WHERE id = %(item)s
),
recorded AS (
    INSERT INTO review_finalrecord
        (item_id, payload, project_id, kind, category, decision, provenance,
         source_annotation_id, approved_by_id, is_current, created_at)
    SELECT %(item)s, %(payload)s, %(project)s, %(kind)s, %(category)s, %(decision)s,
           %(provenance)s, %(source)s, NULL, true, %(now)s
    WHERE %(approve)s
    RETURNING id
),
audited AS (
    INSERT INTO core_auditevent
        (project_id, actor_id, action, object_type, object_id, before, after, created_at)
    VALUES (%(project)s, NULL, 'item.complete', 'annotation.item', %(item)s::text,
            %(before)s, %(after)s, %(now)s)
),
tallied AS (
    INSERT INTO annotation_itemtally (project_id, kind, status, is_gold, count)
    VALUES (%(project)s, %(kind)s, %(status)s, %(is_gold)s, 1),
           (%(project)s, %(kind)s, 'open', %(is_gold)s, -1)
    ON CONFLICT (project_id, kind, status, is_gold)
    DO UPDATE SET count = annotation_itemtally.count + EXCLUDED.count
)
SELECT (SELECT id FROM recorded)
""",
    _COMPLETION_TYPES,
)


def _announce_approved(record: FinalRecord, *, reviewer: Any) -> None:
    events.announce(
        ItemApproved(
            project_id=record.project_id,
            item_id=record.item_id,
            final_record_id=record.pk,
            provenance=record.provenance,
            reviewer_id=reviewer.pk if reviewer is not None else None,
        )
    )


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
    category, decision = kinds.kind_get(item.kind).coverage_labels(payload)
    return FinalRecord.objects.create(
        item=item,
        project_id=item.project_id,
        kind=item.kind,
        category=category,
        decision=decision,
        payload=payload,
        provenance=provenance,
        source_annotation=source,
        approved_by=approved_by,
    )


# --- adjudication --------------------------------------------------------------------------------

MAX_NOTE = 10_000


def _locked_item(item_id: int) -> Item:
    item = (
        Item.objects.select_for_update(of=("self",))
        .select_related("project")
        .filter(pk=item_id)
        .first()
    )
    if item is None:
        raise Http404("No such item.")
    return item


def _latest_final(item: Item) -> FinalRecord | None:
    return FinalRecord.objects.filter(item=item).order_by("-is_current", "-id").first()


def _final_state(record: FinalRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "id": record.pk,
        "payload": record.payload,
        "provenance": record.provenance,
        "is_current": record.is_current,
    }


def _clean_note(note: Any) -> str:
    if note is None:
        return ""
    if not isinstance(note, str):
        raise ApplicationError(
            "The note must be text.", {"errors": [{"field": "note", "message": "Must be text."}]}
        )
    note = note.strip()
    if len(note) > MAX_NOTE or kinds.unstorable(note):
        raise ApplicationError(
            f"The note must be at most {MAX_NOTE:,} characters, without NUL characters.",
            {"errors": [{"field": "note", "message": "Too long or unstorable."}]},
        )
    return note


def _not_in_review(item: Item) -> Conflict:
    latest = Review.objects.select_related("reviewer").filter(item=item).order_by("-id").first()
    if latest is not None:
        message = (
            f"Already decided by another reviewer: {latest.decision} "
            f"(the item is now {item.status})."
        )
    else:
        message = f"This item is not waiting for review (it is {item.status})."
    from review.serializers import ReviewSerializer  # the API's layer: loaded on this path only

    decision = ReviewSerializer(latest).data if latest is not None else None
    return Conflict(message, {"decision": decision, "status": item.status})


@transaction.atomic
def review_decide(
    *,
    item_id: int,
    reviewer: Any,
    decision: str,
    annotation_id: int | None = None,
    final: Any = None,
    note: Any = "",
    then: Any = None,
) -> Review:
    """Settle an item in review: approve one annotation as is, approve a reviewer-written
    `final`, or reject the item.

    The item row is locked, so of two reviewers deciding at once the second finds the item no
    longer in review and gets a 409 carrying the first decision. Nobody adjudicates an item they
    annotated. Approving writes the item's one current final record: `unanimous` when the
    annotators agreed and one of their annotations is approved as is, `adjudicated` when they
    disagreed, `edited` for a reviewer-written final (a `final` identical to one of the
    annotations counts as approving that annotation).

    A rejection says what happens next (`then`): `annotate_again` (the default) opens the item
    for fresh annotations in its next round, by members who have not annotated it (stalled
    when nobody is left); `drop` takes it out of the data for good (kept in the audit). A
    decision on an item another reviewer holds (a review lease) is a 409."""
    if decision not in ReviewDecision.values:
        raise ApplicationError(
            f"decision must be one of: {', '.join(ReviewDecision.values)}.",
            {"errors": [{"field": "decision", "message": "Not a valid decision."}]},
        )
    note = _clean_note(note)
    then = _clean_then(decision, then)
    item = _locked_item(item_id)
    project = item.project
    if Annotation.objects.filter(item=item, annotator_id=reviewer.pk).exists():
        raise PermissionDenied("You annotated this item, so someone else must adjudicate it.")
    if item.status != ItemStatus.IN_REVIEW:
        raise _not_in_review(item)
    _ensure_not_held_by_another(item, reviewer)
    guards.judgement_required(item=item, reviewer=reviewer, decision=decision)
    annotations = list(Annotation.objects.filter(item=item, round=item.round).order_by("id"))

    source: Annotation | None = None
    if decision == ReviewDecision.REJECT:
        if annotation_id is not None or final is not None:
            raise ApplicationError(
                "A rejection takes only a note: leave out annotation and final.",
                {"errors": [{"field": "decision", "message": "Reject takes no annotation."}]},
            )
        if not note:
            raise ApplicationError(
                "A rejection needs a note saying why.",
                {"errors": [{"field": "note", "message": "Required when rejecting."}]},
            )
    elif annotation_id is not None and final is not None:
        raise ApplicationError(
            "Approve either one annotation as is or a final you wrote, not both.",
            {"errors": [{"field": "final", "message": "Give annotation or final, not both."}]},
        )
    elif annotation_id is not None:
        source = next((a for a in annotations if a.pk == annotation_id), None)
        if source is None:
            raise ApplicationError(
                "That annotation does not belong to this item.",
                {"errors": [{"field": "annotation", "message": "Not an annotation of the item."}]},
            )
    elif final is not None:
        errors = kinds.validate_payload(item.kind, final, kinds.Vocabulary.of(project))
        if errors:
            raise ApplicationError(
                f"Invalid final: {errors[0]['field']}: {errors[0]['message']}",
                {"errors": errors, "final": final},
            )
        source = next((a for a in annotations if a.payload == final), None)
    else:
        raise ApplicationError(
            "To approve, give the annotation to approve or a final payload.",
            {"errors": [{"field": "annotation", "message": "Give annotation or final."}]},
        )

    previous = _latest_final(item)
    before = {
        "status": item.status,
        "review_reason": item.review_reason,
        "agreement": item.agreement,
        "final": _final_state(previous),
    }
    review = Review.objects.create(
        item=item,
        reviewer=reviewer,
        decision=decision,
        annotation=source,
        final=final if source is None else None,
        note=note,
        then=then,
        round=item.round,
    )
    guards.prediction_check_grade(item=item, reviewer=reviewer, review=review)
    after: dict[str, Any] = {"review": review.pk, "note": note}
    if decision == ReviewDecision.APPROVE:
        if source is None:
            provenance = Provenance.EDITED
        elif item.agreement == Agreement.AGREED:
            provenance = Provenance.UNANIMOUS
        else:
            provenance = Provenance.ADJUDICATED
        record = final_record_create(
            item=item,
            payload=source.payload if source is not None else final,
            provenance=provenance,
            source=source,
            approved_by=reviewer,
        )
        item.status = ItemStatus.APPROVED
        after["final"] = _final_state(record)
        after["annotation"] = source.pk if source is not None else None
        _announce_approved(record, reviewer=reviewer)
    else:
        after["final"] = None
        after["then"] = then
        events.announce(
            ItemRejected(
                project_id=project.pk,
                item_id=item.pk,
                review_id=review.pk,
                reviewer_id=reviewer.pk,
                then=then,
            )
        )
    if then == AfterReject.ANNOTATE_AGAIN:
        item_next_round(item=item, project=project)  # open (or stalled), counted there
    else:
        if then == AfterReject.DROP:
            item.status = ItemStatus.DROPPED
        item.review_reason = ""
        item.save(update_fields=["status", "review_reason", "updated_at"])
        tally_move(item=item, before=before["status"])
    after["status"], after["round"] = item.status, item.round
    ReviewLease.objects.filter(item=item, status=ReviewLeaseStatus.ACTIVE).update(
        status=ReviewLeaseStatus.DECIDED, finished_at=timezone.now()
    )
    audit_record(
        actor=reviewer,
        action=f"review.{decision}",
        obj=item,
        project=project,
        before=before,
        after=after,
    )
    return review


def _clean_then(decision: str, then: Any) -> str:
    if decision != ReviewDecision.REJECT:
        if then not in (None, ""):
            raise ApplicationError(
                "`then` goes with a rejection only.",
                {"errors": [{"field": "then", "message": "Only for decision reject."}]},
            )
        return ""
    if then in (None, ""):
        return AfterReject.ANNOTATE_AGAIN
    if then not in AfterReject.values:
        raise ApplicationError(
            f"then must be one of: {', '.join(AfterReject.values)}.",
            {"errors": [{"field": "then", "message": f"{then!r} is not one of them."}]},
        )
    return then


@transaction.atomic
def item_reopen(*, item_id: int, actor: Any, note: Any = "") -> Item:
    """Send a decided item back to review (a lead's call; the caller checks the role).

    The current final record stays as history (`is_current=False`), so exports drop the item
    until a reviewer decides again."""
    note = _clean_note(note)
    item = _locked_item(item_id)
    if item.status not in (ItemStatus.APPROVED, ItemStatus.REJECTED, ItemStatus.DROPPED):
        raise Conflict(
            "Only an approved, rejected or dropped item can be sent back to review "
            f"(it is {item.status}).",
            {"status": item.status},
        )
    current = FinalRecord.objects.filter(item=item, is_current=True).first()
    before = {
        "status": item.status,
        "review_reason": item.review_reason,
        "final": _final_state(current),
    }
    if current is not None:
        current.is_current = False
        current.save(update_fields=["is_current"])
    item.status, item.review_reason = ItemStatus.IN_REVIEW, ReviewReason.REOPENED
    item.save(update_fields=["status", "review_reason", "updated_at"])
    audit_record(
        actor=actor,
        action="item.reopen",
        obj=item,
        project=item.project,
        before=before,
        after={"status": item.status, "review_reason": item.review_reason, "note": note},
    )
    tally_move(item=item, before=before["status"])
    events.announce(ItemReopened(project_id=item.project_id, item_id=item.pk, status=item.status))
    return item


# --- project settings that change what is complete -------------------------------------------


def items_reevaluate(*, project: Project, before: dict[str, Any], after: dict[str, Any]) -> None:
    """Apply a change of the settings the item-level rule reads, in the settings' transaction.

    * Overlap raised: items in review that no reviewer has decided and that now have fewer
      annotations than the overlap go back to the queue for more. Decided items, and items
      approved by the rule, stay as they are (their approval was made; a lead may reopen one).
      Lowering the overlap completes items in `annotation` (it announces item.completed).
    * QA sample rate or auto-approval of texts changed: agreed items in review that no reviewer
      has decided are routed again, so an item that now falls outside the sample, or a text
      the project now auto-approves, is approved by the rule.
    """
    undecided = (
        Item.objects.filter(project=project, status=ItemStatus.IN_REVIEW)
        .exclude(reviews__isnull=False)
        .order_by("pk")
    )
    overlap = after.get("annotations_per_item")
    if overlap is not None and overlap > before.get("annotations_per_item", overlap):
        for item in undecided.filter(submitted_count__lt=overlap).select_for_update(of=("self",)):
            _back_to_queue(item, project)
    if "review_sample_rate" in after or "auto_approve_text" in after:
        reasons = [ReviewReason.SAMPLED, ReviewReason.TEXT]
        routed = undecided.filter(agreement=Agreement.AGREED, review_reason__in=reasons)
        for item in routed.select_for_update(of=("self",)):
            item_complete(item=item, project=project)


def _back_to_queue(item: Item, project: Project) -> None:
    before = {"status": item.status, "review_reason": item.review_reason}
    item.status, item.agreement, item.review_reason = ItemStatus.OPEN, "", ""
    item.save(update_fields=["status", "agreement", "review_reason", "updated_at"])
    audit_record(
        actor=None,
        action="item.requeue",
        obj=item,
        project=project,
        before=before,
        after={"status": item.status, "why": "annotations_per_item raised"},
    )
    tally_move(item=item, before=before["status"])
    events.announce(ItemReopened(project_id=project.pk, item_id=item.pk, status=item.status))


# --- review leases: one reviewer holds one item ----------------------------------------------


def _lease_end(project: Project) -> Any:
    return timezone.now() + timedelta(seconds=project.lease_seconds)


def _held_by_another(item: Item, reviewer: Any) -> ReviewLease | None:
    return (
        ReviewLease.objects.filter(
            item=item, status=ReviewLeaseStatus.ACTIVE, expires_at__gt=timezone.now()
        )
        .exclude(reviewer_id=reviewer.pk)
        .first()
    )


def _ensure_not_held_by_another(item: Item, reviewer: Any) -> None:
    lease = _held_by_another(item, reviewer)
    if lease is not None:
        until = timezone.localtime(lease.expires_at).strftime("%H:%M")
        raise Conflict(
            f"Another reviewer holds this item until {until} (unless they decide or release it "
            "first); take another one.",
            {"status": "held", "lease_expires_at": lease.expires_at.isoformat()},
        )


def _expire_stale_leases(*, item: Item | None = None, reviewer: Any = None) -> None:
    stale = ReviewLease.objects.filter(
        status=ReviewLeaseStatus.ACTIVE, expires_at__lte=timezone.now()
    )
    if item is not None:
        stale = stale.filter(item=item)
    if reviewer is not None:
        stale = stale.filter(reviewer_id=reviewer.pk)
    stale.update(status=ReviewLeaseStatus.EXPIRED, finished_at=timezone.now())


def _take(membership: Any, item: Item) -> ReviewLease:
    """Lease `item` (its row locked) to the member, ending their other lease in the project."""
    ReviewLease.objects.filter(
        project_id=membership.project_id,
        reviewer_id=membership.user_id,
        status=ReviewLeaseStatus.ACTIVE,
    ).exclude(item=item).update(status=ReviewLeaseStatus.RELEASED, finished_at=timezone.now())
    _expire_stale_leases(item=item)
    now = timezone.now()
    lease, _ = ReviewLease.objects.update_or_create(
        item=item,
        reviewer_id=membership.user_id,
        status=ReviewLeaseStatus.ACTIVE,
        defaults={"expires_at": _lease_end(membership.project)},
        create_defaults={
            "project_id": membership.project_id,
            "claimed_at": now,
            "expires_at": _lease_end(membership.project),
        },
    )
    return lease


def review_claim_next(*, membership: Any) -> ReviewLease | None:
    """The reviewer's next item to decide, held for them (a review lease) so no other
    reviewer gets it: their own held item first (resume), then the review queue's order,
    leaving out items others hold, items they annotated and items they put aside. `SELECT
    ... FOR UPDATE SKIP LOCKED` on PostgreSQL, like the annotators' queue."""
    for _attempt in range(3):
        try:
            with transaction.atomic():
                _expire_stale_leases(reviewer=membership.user)
                own = (
                    ReviewLease.objects.select_related("item")
                    .filter(
                        project_id=membership.project_id,
                        reviewer_id=membership.user_id,
                        status=ReviewLeaseStatus.ACTIVE,
                        item__status=ItemStatus.IN_REVIEW,
                    )
                    .first()
                )
                if own is not None:
                    own.expires_at = _lease_end(membership.project)
                    own.save(update_fields=["expires_at"])
                    return own
                item = (
                    review_claimable(membership=membership)
                    .select_for_update(skip_locked=True, of=("self",))
                    .first()
                )
                if item is None:
                    return None
                return _take(membership, item)
        except IntegrityError:
            continue  # another reviewer took it at the same moment: look again
    raise Conflict("Could not claim an item because of simultaneous claims; try again.")


@transaction.atomic
def review_claim_item(*, membership: Any, item_id: int) -> ReviewLease:
    """Hold one chosen item in review (opened from the review list); 409 while another
    reviewer holds it."""
    item = _locked_item(item_id)
    if item.project_id != membership.project_id:
        raise Http404("No such item.")
    if item.status != ItemStatus.IN_REVIEW:
        raise _not_in_review(item)
    if Annotation.objects.filter(item=item, annotator_id=membership.user_id).exists():
        raise PermissionDenied("You annotated this item, so someone else must adjudicate it.")
    _ensure_not_held_by_another(item, membership.user)
    return _take(membership, item)


def _own_lease(lease_id: Any, reviewer: Any) -> ReviewLease:
    lease = (
        ReviewLease.objects.select_for_update(of=("self",))  # not the project's row
        .select_related("project")
        .filter(pk=lease_id, reviewer_id=getattr(reviewer, "pk", None))
        .first()
    )
    if lease is None:
        raise Http404("No such review lease.")
    return lease


@transaction.atomic
def review_lease_heartbeat(*, lease_id: Any, reviewer: Any) -> ReviewLease:
    """Keep holding the item while the reviewer reads it; 409 once the lease ended."""
    lease = _own_lease(lease_id, reviewer)
    if lease.status != ReviewLeaseStatus.ACTIVE or lease.expires_at <= timezone.now():
        raise Conflict(
            "This review lease has ended; claim the item again.", {"status": lease.status}
        )
    lease.expires_at = _lease_end(lease.project)
    lease.save(update_fields=["expires_at"])
    return lease


@transaction.atomic
def review_lease_release(*, lease_id: Any, reviewer: Any) -> ReviewLease:
    """Let go of a held item: another reviewer may take it at once."""
    lease = _own_lease(lease_id, reviewer)
    if lease.status == ReviewLeaseStatus.ACTIVE:
        lease.status, lease.finished_at = ReviewLeaseStatus.RELEASED, timezone.now()
        lease.save(update_fields=["status", "finished_at"])
    return lease


@transaction.atomic
def review_skip(*, membership: Any, item_id: int) -> None:
    """Put an item aside: not offered to this reviewer again until they clear their skips
    (kept on the server, across logins)."""
    item = Item.objects.filter(pk=item_id, project_id=membership.project_id).first()
    if item is None:
        raise Http404("No such item.")
    ReviewSkip.objects.get_or_create(
        item=item, reviewer_id=membership.user_id, defaults={"project_id": membership.project_id}
    )
    ReviewLease.objects.filter(
        item=item, reviewer_id=membership.user_id, status=ReviewLeaseStatus.ACTIVE
    ).update(status=ReviewLeaseStatus.RELEASED, finished_at=timezone.now())


def review_skips_clear(*, membership: Any) -> int:
    deleted, _ = ReviewSkip.objects.filter(
        project_id=membership.project_id, reviewer_id=membership.user_id
    ).delete()
    return deleted
