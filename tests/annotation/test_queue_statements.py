"""Claim and submit through the HTTP API in a handful of SQL statements, token and membership
included: one statement decides and writes a claim, one locks and writes a submit."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.models import Assignment, Item, ItemStatus, Membership, Role
from core.models import AuditEvent
from review.models import FinalRecord
from tests.factories import ItemFactory, MembershipFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("require_postgres")]


# Transaction control is not counted: a claim and a submit that leaves the item open are one
# statement each, outside any transaction (no BEGIN or COMMIT is sent); the submit that
# completes an item adds BEGIN and COMMIT around its locking write and the review rule.
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


# The webhooks app looks for the project's endpoints once per event it may send (one read
# of a small index, after commit): counted apart from the loop's own statements.
WEBHOOK_LOOKUP = "FROM webhooks_endpoint WHERE"


def _statements(captured) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].startswith(CONTROL) and WEBHOOK_LOOKUP not in q["sql"]
    ]


def _webhook_lookups(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if WEBHOOK_LOOKUP in q["sql"]]


def _control(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if q["sql"].startswith(CONTROL)]


@pytest.fixture
def clients(project, make_api):
    project.annotations_per_item = 2
    project.review_sample_rate = 0
    project.agreement_every = 100  # the after-commit scheduler runs (and is counted)
    project.save()
    members = [MembershipFactory(project=project, role=Role.ANNOTATOR) for _ in range(2)]
    made = [make_api(m.user) for m in members]
    for client in made:  # a token's last use is written at most once a minute, not per request
        assert client.get("/api/v1/projects/").status_code == 200
    return made


def claim(client, project):
    with CaptureQueriesContext(connection) as captured:
        response = client.post(f"/api/v1/projects/{project.pk}/claim/")
    assert _control(captured) == []  # one statement, its own transaction
    return response, _statements(captured)


def submit(client, assignment_id, payload):
    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            f"/api/v1/assignments/{assignment_id}/submit/", {"payload": payload}, format="json"
        )
    return response, _statements(captured)


def test_a_claim_is_three_statements_token_and_membership_included(project, clients):
    item = ItemFactory(project=project, kind="preference")
    response, sql = claim(clients[0], project)
    assert response.status_code == 200, response.content
    assert response.json()["item"]["id"] == item.pk
    assert len(sql) <= 3, sql
    # ...and it did all a claim does: the lease, the item's counters, pacing, the audit event
    assignment = Assignment.objects.get(pk=response.json()["assignment"]["id"])
    assert assignment.status == "active" and assignment.display_order in ("AB", "BA")
    item.refresh_from_db()
    assert item.active_count == 1 and item.lease_expires_at == assignment.expires_at
    assert Membership.objects.get(project=project, user=assignment.annotator).served_count == 1
    assert AuditEvent.objects.filter(action="assignment.claim", object_id=str(assignment.pk))


def test_a_resumed_claim_and_an_empty_queue_are_three_statements(project, clients):
    ItemFactory(project=project, kind="preference")
    first, _ = claim(clients[0], project)
    again, sql = claim(clients[0], project)
    assert again.json()["assignment"]["id"] == first.json()["assignment"]["id"]
    assert len(sql) <= 3, sql
    submit(clients[0], first.json()["assignment"]["id"], {"rating": 1})
    empty, sql = claim(clients[0], project)
    assert empty.status_code == 204
    assert len(sql) <= 3, sql


def test_a_submit_is_at_most_four_statements(project, clients):
    item = ItemFactory(project=project, kind="preference")
    claimed, _ = claim(clients[0], project)
    with CaptureQueriesContext(connection) as captured:
        response = clients[0].post(
            f"/api/v1/assignments/{claimed.json()['assignment']['id']}/submit/",
            {"payload": {"rating": -2}},
            format="json",
        )
    assert response.status_code == 201, response.content
    assert len(_statements(captured)) <= 4, _statements(captured)
    assert len(_webhook_lookups(captured)) == 1  # annotation.submitted
    assert _control(captured) == []  # the locking write is a transaction by itself
    item.refresh_from_db()
    assert (item.submitted_count, item.active_count, item.lease_expires_at) == (1, 0, None)
    assert item.status == ItemStatus.OPEN
    assert AuditEvent.objects.filter(action="annotation.submit").count() == 1


def test_a_submit_that_completes_the_item_is_at_most_seven_statements(project, clients):
    item = ItemFactory(project=project, kind="preference")
    for client, rating in zip(clients, (-2, -1), strict=True):
        claimed, _ = claim(client, project)
        assert claimed.json()["item"]["id"] == item.pk
        response, sql = submit(client, claimed.json()["assignment"]["id"], {"rating": rating})
        assert response.status_code == 201, response.content
    assert len(sql) <= 7, sql
    item.refresh_from_db()
    assert item.status == ItemStatus.APPROVED and item.agreement == "agreed"
    record = FinalRecord.objects.get(item=item, is_current=True)
    assert record.payload == {"rating": -2} and record.provenance == "unanimous"
    assert AuditEvent.objects.filter(action="item.complete", object_id=str(item.pk)).exists()


def test_a_disputed_completion_goes_to_review_in_as_few_statements(project, clients):
    item = ItemFactory(project=project, kind="preference")
    for client, rating in zip(clients, (-2, 3), strict=True):
        claimed, _ = claim(client, project)
        response, sql = submit(client, claimed.json()["assignment"]["id"], {"rating": rating})
        assert response.status_code == 201, response.content
    assert len(sql) <= 7, sql
    item = Item.objects.get(pk=item.pk)
    assert (item.status, item.review_reason) == (ItemStatus.IN_REVIEW, "disputed")
    assert not FinalRecord.objects.filter(item=item).exists()


def test_a_submit_by_someone_who_left_the_project_is_404(project, clients):
    ItemFactory(project=project, kind="preference")
    claimed, _ = claim(clients[0], project)
    assignment = Assignment.objects.get(pk=claimed.json()["assignment"]["id"])
    Membership.objects.filter(project=project, user=assignment.annotator).delete()
    response, _ = submit(clients[0], assignment.pk, {"rating": 1})
    assert response.status_code == 404
    assert not Item.objects.get(pk=assignment.item_id).submitted_count
