"""The submit and review paths never lock the project's row FOR UPDATE: that lock conflicts with
the FOR KEY SHARE every insert referring to the project takes (annotations, assignments, reviews,
audit events), so it queued a whole project's submits behind one transaction and deadlocked
submits with reviews (found by bench/soak.py). Each test holds one of those transactions open
and asks, from another connection, what an insert would need."""

import threading

import pytest
from django.db import connection, transaction

from agreement.services import agreement_report_request
from annotation.models import Item, ItemStatus, Role
from annotation.queue import assignment_submit
from review.services import review_claim_next, review_lease_heartbeat
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, annotate, lease
from tests.review.review_fixtures import disputed_preference

pytestmark = [pytest.mark.usefixtures("require_postgres"), pytest.mark.django_db(transaction=True)]


def _try_lock(project_id: int, mode: str) -> str:
    """From another connection: lock the project's row in `mode` without waiting."""
    outcome = []

    def attempt():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT 1 FROM annotation_project WHERE id = %s FOR {mode} NOWAIT",  # noqa: S608
                    [project_id],
                )
            outcome.append("locked")
        except Exception as error:
            outcome.append(type(error).__name__)
        finally:
            connection.close()

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join(timeout=30)
    return outcome[0]


def test_a_submit_that_completes_an_item_leaves_the_project_row_free():
    project = ProjectFactory(annotations_per_item=2, review_sample_rate=0, agreement_every=0)
    first, second = (MembershipFactory(project=project, role=Role.ANNOTATOR) for _ in range(2))
    item = ItemFactory(project=project)
    annotate(item, first.user, {"rating": -2})
    held = lease(item, second.user)
    with transaction.atomic():
        assignment_submit(assignment_id=held.pk, annotator=second.user, payload={"rating": 3})
        assert Item.objects.get(pk=item.pk).status == ItemStatus.IN_REVIEW  # routed, in here
        assert _try_lock(project.pk, "KEY SHARE") == "locked"


def test_a_review_lease_heartbeat_leaves_the_project_row_free():
    project = ProjectFactory()
    disputed_preference(project)
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER)
    held = review_claim_next(membership=reviewer)
    with transaction.atomic():
        review_lease_heartbeat(lease_id=held.pk, reviewer=reviewer.user)
        assert _try_lock(project.pk, "KEY SHARE") == "locked"


def test_an_agreement_request_excludes_another_request_but_not_inserts():
    project = ProjectFactory()
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    with transaction.atomic():
        agreement_report_request(project=project, actor=lead)
        assert _try_lock(project.pk, "KEY SHARE") == "locked"
        assert _try_lock(project.pk, "NO KEY UPDATE") == "OperationalError"
