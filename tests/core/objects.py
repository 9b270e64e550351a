"""One object of every kind a route names, in one project, for the tests that walk every route
(the pages, the API under bad input, schemathesis): paths then name real objects."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from annotation import kinds
from annotation.models import Membership, Project, Role
from exports.services import export_request
from review.services import review_claim_next
from team.services import invitation_create
from tests.factories import (
    ItemFactory,
    MembershipFactory,
    ProjectFactory,
    UserFactory,
    annotate,
    lease,
)
from tests.review.review_fixtures import disputed_preference
from webhooks.models import Delivery, Endpoint


@dataclass
class Objects:
    project: Project
    lead: Any  # staff too
    annotator: Any  # holding a lease on the first item
    reviewing: Membership  # a reviewer holding a review lease
    outsider: Any  # of no project
    ids: dict[str, int]  # by the name a route gives each id
    invitation_token: str


def every_object(**project_fields: Any) -> Objects:
    """A project with items of every kind, an annotation, an annotator's lease, a disputed item
    a reviewer holds, an export, a webhook with a delivery, an invitation; and its people."""
    project = ProjectFactory(**project_fields)
    lead = UserFactory(is_staff=True)
    MembershipFactory(project=project, role=Role.LEAD, user=lead)
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    reviewing = MembershipFactory(project=project, role=Role.REVIEWER)
    items = [ItemFactory(project=project, kind=kind) for kind in kinds.names()]
    annotation = annotate(ItemFactory(project=project), annotator, {"rating": 1})
    held = lease(items[0], annotator)
    disputed_preference(project)
    review_lease = review_claim_next(membership=reviewing)
    export = export_request(project=project, actor=lead, format="trl-preference", split="train")
    endpoint = Endpoint.objects.create(
        project=project, url="http://127.0.0.1:9/hook", secret="s", events=["item.approved"]
    )
    delivery = Delivery.objects.create(
        endpoint=endpoint,
        event_type="item.approved",
        event={"project_id": project.pk, "item_id": items[1].pk},
        next_attempt_at=timezone.now(),
        created_at=timezone.now(),
    )
    invited = invitation_create(project=project, actor=lead, role=Role.REVIEWER)
    ids = {
        "project_id": project.pk,
        "item_id": items[1].pk,
        "assignment_id": held.pk,
        "annotation_id": annotation.pk,
        "user_id": annotator.pk,
        "export_id": export.pk,
        "lease_id": review_lease.pk,
        "webhook_id": endpoint.pk,
        "delivery_id": delivery.pk,
        "invitation_id": invited.invitation.pk,
    }
    return Objects(project, lead, annotator, reviewing, UserFactory(), ids, invited.token)


def path_of(route: str, ids: dict[str, Any]) -> str:
    """A Django route (``projects/<int:project_id>/``) as a path naming the objects of ``ids``
    (1 for a name it lacks: most likely no object)."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids.get(m.group(1), 1)), route)
