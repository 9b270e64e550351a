"""Routing again when a lead changes the routing policy (`auto_accept_above`, `audit_rate`,
`always_review`): the items nobody has touched yet go where the new policy sends them.

Untouched: open, not gold, with a prediction, in their first round with no annotation and no
lease (the counters on the item row say so, and are exact under its lock), and not reopened by
a lead (a reopened item is people's for good, as at import). Everything else stays as it was:
an item already auto-accepted stays approved (its final record made; a lead may reopen it), an
item people have started on stays theirs. The decision is `policy.route_for`, as at import,
with the same stable audit draw, so an item the draw picked stays picked under any audit rate
at least as high, and the same policy always gives the same routes.

A change that leaves at most INLINE_MAX untouched items re-routes them in the settings'
transaction (all or nothing with the change); more go through the outbox, in batches of their
own transactions (idempotent: a second run finds nothing left to move). Each run writes one
audit event, `items.reroute`, with how many items each rule sent where, as the import's
`items.route` does; each item keeps its route and rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from annotation.models import Item, ItemStatus, Project, Route
from annotation.rollups import tally_add
from core import outbox
from core.audit import audit_record
from routing import services
from routing.policy import Policy, route_for

ROUTING_SETTINGS = ("auto_accept_above", "audit_rate", "always_review")
REROUTE_TASK = "routing.items_reroute"  # the Celery task (routing/tasks.py)
INLINE_MAX = 10_000  # more untouched items than this are re-routed in the background
_BATCH = 2_000
_FIELDS = ("pk", "external_id", "kind", "data", "metadata", "prediction", "signal")


@dataclass
class Rerouted:
    items: int = 0  # untouched items routed again
    changed: int = 0  # of them, those whose route changed
    auto_accepted: int = 0  # of them, approved by confidence now
    routed: dict[str, int] = field(default_factory=dict)  # "route:rule" -> items
    moved: dict[str, int] = field(default_factory=dict)  # "old->new" route -> items
    changed_external_ids: list[str] = field(default_factory=list)  # the first 100

    def add(self, other: Rerouted) -> None:
        self.items += other.items
        self.changed += other.changed
        self.auto_accepted += other.auto_accepted
        for mine, theirs in ((self.routed, other.routed), (self.moved, other.moved)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        self.changed_external_ids += other.changed_external_ids[
            : 100 - len(self.changed_external_ids)
        ]


def untouched(project: Project) -> QuerySet[Item]:
    return Item.objects.filter(
        project=project,
        status=ItemStatus.OPEN,
        is_gold=False,
        prediction__isnull=False,
        round=1,
        submitted_count=0,
        active_count=0,
    ).exclude(route_rule="reopened")


def _reroute_batch(project: Project, policy: Policy, after_pk: int) -> tuple[Rerouted, int]:
    """Route the next batch of untouched items (locked, by id) again; returns what moved and
    the last id seen (0 when none was left)."""
    rows = list(
        untouched(project)
        .filter(pk__gt=after_pk)
        .order_by("pk")
        .select_for_update(of=("self",))
        .values(*_FIELDS, "route", "route_rule")[:_BATCH]
    )
    result = Rerouted(items=len(rows))
    if not rows:
        return result, 0
    now = timezone.now()
    updates: list[Item] = []
    approved: list[str] = []
    for row in rows:
        route, rule = route_for(policy, {**row, "is_gold": False})
        key = f"{route}:{rule}"
        result.routed[key] = result.routed.get(key, 0) + 1
        if (route, rule) == (row["route"], row["route_rule"]):
            continue
        status = ItemStatus.APPROVED if route == Route.AUTO else ItemStatus.OPEN
        updates.append(
            Item(pk=row["pk"], route=route, route_rule=rule, status=status, updated_at=now)
        )
        if route != (row["route"] or Route.HUMAN):
            result.changed += 1
            move = f"{row['route'] or Route.HUMAN.value}->{route}"
            result.moved[move] = result.moved.get(move, 0) + 1
            if len(result.changed_external_ids) < 100:
                result.changed_external_ids.append(row["external_id"])
        if route == Route.AUTO:
            approved.append(row["external_id"])
    if updates:
        Item.objects.bulk_update(
            updates, ["route", "route_rule", "status", "updated_at"], batch_size=500
        )
    if approved:
        # The final records (provenance auto) and ItemApproved, as for an import's approvals.
        result.auto_accepted = services.auto_accepted_finalise(
            project=project, external_ids=approved
        )
        kinds_of = {row["external_id"]: row["kind"] for row in rows}
        changes: dict[tuple[str, str, bool], int] = {}
        for external_id in approved:
            for status, n in ((ItemStatus.OPEN.value, -1), (ItemStatus.APPROVED.value, 1)):
                key = (kinds_of[external_id], status, False)
                changes[key] = changes.get(key, 0) + n
        tally_add(project_id=project.pk, changes=changes)
    return result, rows[-1]["pk"]


def _audit(project: Project, result: Rerouted, *, actor: Any, background: bool) -> None:
    audit_record(
        actor=actor,
        action="items.reroute",
        obj=project,
        project=project,
        after={
            "rerouted": result.items,
            "routed": dict(sorted(result.routed.items())),
            "moved": dict(sorted(result.moved.items())),
            "auto_accepted": result.auto_accepted,
            "changed_external_ids": result.changed_external_ids,
            "auto_accept_above": project.auto_accept_above,
            "audit_rate": project.audit_rate,
            "always_review": project.always_review,
            "background": background,
        },
    )


def items_reroute(*, project: Project, actor: Any = None) -> Rerouted:
    """Route the project's untouched items again under its current policy, in the caller's
    transaction, and audit it (one event)."""
    policy = Policy.of(project)
    total, last = Rerouted(), 0
    while True:
        result, last = _reroute_batch(project, policy, last)
        total.add(result)
        if not last:
            break
    _audit(project, total, actor=actor, background=False)
    return total


def items_reroute_in_batches(*, project_id: int) -> Rerouted | None:
    """The background run: each batch in a transaction of its own, under the policy as it is
    when the batch starts (a later change re-routes again anyway). None: the project is gone."""
    total, last = Rerouted(), 0
    while True:
        with transaction.atomic():
            project = Project.objects.filter(pk=project_id).first()
            if project is None:
                return None
            result, last = _reroute_batch(project, Policy.of(project), last)
        total.add(result)
        if not last:
            break
    with transaction.atomic():
        _audit(project, total, actor=None, background=True)
    return total


def reroute_after_settings(
    *, project: Project, actor: Any, before: dict[str, Any], after: dict[str, Any]
) -> dict[str, Any] | None:
    """The settings effect (annotation.services.settings_effect_register): when the routing
    policy changed, re-route the untouched items now, or through the outbox when there are
    more than INLINE_MAX; says how many to the lead."""
    if not set(after) & set(ROUTING_SETTINGS):
        return None
    waiting = untouched(project).count()
    if waiting > INLINE_MAX:
        outbox.enqueue(REROUTE_TASK, project_id=project.pk)
        return {
            "rerouted": {
                "items": waiting,
                "changed": None,
                "auto_accepted": None,
                "background": True,
            }
        }
    result = items_reroute(project=project, actor=actor)
    return {
        "rerouted": {
            "items": result.items,
            "changed": result.changed,
            "auto_accepted": result.auto_accepted,
            "background": False,
        }
    }
