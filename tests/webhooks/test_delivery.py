"""Deliveries to a real receiver on 127.0.0.1: bodies, signatures, retries, order, the log."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import ItemStatus, Role
from annotation.queue import assignment_claim_next, assignment_skip
from core.models import OutboxJob
from tests.factories import ItemFactory, MembershipFactory
from tests.review.review_fixtures import annotations_of, disputed_preference
from tests.webhooks.conftest import drain
from tests.webhooks.receiver import Receiver, Reply
from webhooks.models import Attempt, Delivery, DeliveryState, Endpoint
from webhooks.services import DELIVER_TASK, backoff_seconds


def register(client, project, url, events=("item.approved",)):
    response = client.post(
        f"/api/v1/projects/{project.pk}/webhooks/",
        {"url": url, "events": list(events)},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def approve(client, item, annotation):
    response = client.post(
        f"/api/v1/items/{item.pk}/review/",
        {"decision": "approve", "annotation": annotation.pk},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def people(project, lead):
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    return lead, reviewer


def test_an_approval_reaches_the_receiver_signed_with_the_final_record(
    project, people, make_api, receiver, django_capture_on_commit_callbacks
):
    lead, reviewer = people
    hook = register(make_api(lead), project, receiver.url)
    item = disputed_preference(project)
    chosen = annotations_of(item)[1]
    with django_capture_on_commit_callbacks(execute=True):
        decided = approve(make_api(reviewer), item, chosen)
    (request,) = receiver.wait(1)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["rubric-event"] == "item.approved"
    assert request.signed_with(hook["secret"])
    assert not request.signed_with("whsec_wrong")
    body = request.json
    assert set(body) == {"id", "type", "created", "project", "data"}
    assert body["type"] == "item.approved" and body["project"] == project.pk
    assert body["id"] == request.headers["rubric-delivery"]
    assert body["data"]["item"]["id"] == item.pk
    assert body["data"]["item"]["external_id"] == item.external_id
    assert body["data"]["final_record"] == decided["final_record"]  # as the API shows it
    assert abs(int(request.headers["rubric-timestamp"]) - time.time()) < 30
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.DELIVERED and delivery.attempts == 1
    assert delivery.response_code == 200 and delivery.duration_ms > 0


def test_only_endpoints_asking_for_the_event_type_receive_it(
    project, people, make_api, receiver, django_capture_on_commit_callbacks
):
    lead, reviewer = people
    register(make_api(lead), project, receiver.url, events=["export.finished"])
    item = disputed_preference(project)
    with django_capture_on_commit_callbacks(execute=True):
        approve(make_api(reviewer), item, annotations_of(item)[0])
    assert not Delivery.objects.exists()
    assert receiver.received == []


def test_a_change_rolled_back_sends_nothing(
    project, people, make_api, receiver, django_capture_on_commit_callbacks
):
    from django.db import transaction

    from review import services as review_services

    lead, reviewer = people
    register(make_api(lead), project, receiver.url)
    item = disputed_preference(project)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        review_services.review_decide(
            item_id=item.pk,
            reviewer=reviewer,
            decision="approve",
            annotation_id=annotations_of(item)[0].pk,
        )
        raise RuntimeError("rolled back")
    assert callbacks == []
    assert not Delivery.objects.exists() and receiver.received == []


def test_500_three_times_then_200_is_delivered_once_after_four_attempts(
    project, people, make_api, receiver, fast_retries, django_capture_on_commit_callbacks
):
    lead, reviewer = people
    register(make_api(lead), project, receiver.url)
    receiver.script = [Reply(500), Reply(502), Reply(503), Reply(200)]
    item = disputed_preference(project)
    with django_capture_on_commit_callbacks(execute=True):
        approve(make_api(reviewer), item, annotations_of(item)[0])
    drain()
    requests = receiver.wait(4)
    assert len(requests) == 4
    assert len({r.headers["rubric-delivery"] for r in requests}) == 1  # one event id
    assert len({r.body for r in requests}) == 1  # the same body each time
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.DELIVERED and delivery.attempts == 4
    log = list(Attempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.response_code, a.outcome) for a in log] == [
        (1, 500, "retry"),
        (2, 502, "retry"),
        (3, 503, "retry"),
        (4, 200, "delivered"),
    ]
    assert all(a.retry_at is not None for a in log[:3])
    api = make_api(lead).get(f"/api/v1/webhooks/{delivery.endpoint_id}/deliveries/").json()
    (row,) = api["results"]
    assert row["state"] == "delivered" and row["attempts"] == 4 and row["response_code"] == 200
    assert [a["response_code"] for a in row["attempt_log"]] == [500, 502, 503, 200]


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_a_4xx_is_not_retried(
    status, project, people, make_api, receiver, fast_retries, django_capture_on_commit_callbacks
):
    lead, reviewer = people
    register(make_api(lead), project, receiver.url)
    receiver.script = [Reply(status)]
    item = disputed_preference(project)
    with django_capture_on_commit_callbacks(execute=True):
        approve(make_api(reviewer), item, annotations_of(item)[0])
    drain()
    assert len(receiver.received) == 1
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.FAILED and delivery.attempts == 1
    assert str(status) in delivery.error


def test_429_honours_retry_after(
    project, people, make_api, receiver, fast_retries, django_capture_on_commit_callbacks
):
    lead, reviewer = people
    register(make_api(lead), project, receiver.url)
    receiver.script = [Reply(429, {"Retry-After": "1"}), Reply(200)]
    item = disputed_preference(project)
    with django_capture_on_commit_callbacks(execute=True):
        approve(make_api(reviewer), item, annotations_of(item)[0])
    drain()
    first, second = receiver.wait(2)
    assert second.at - first.at >= 0.95  # not the 0.05 s backoff: the receiver's wait
    (retry,) = Attempt.objects.filter(outcome="retry")
    assert retry.response_code == 429


def test_408_without_retry_after_backs_off_and_is_retried(
    project, people, make_api, receiver, fast_retries, django_capture_on_commit_callbacks
):
    lead, reviewer = people
    register(make_api(lead), project, receiver.url)
    receiver.script = [Reply(408), Reply(204)]
    item = disputed_preference(project)
    with django_capture_on_commit_callbacks(execute=True):
        approve(make_api(reviewer), item, annotations_of(item)[0])
    drain()
    assert len(receiver.wait(2)) == 2
    assert Delivery.objects.get().state == DeliveryState.DELIVERED


def test_a_receiver_that_hangs_times_out_and_is_retried(
    project, people, make_api, receiver, fast_retries, django_capture_on_commit_callbacks
):
    fast_retries.WEBHOOKS_TIMEOUT_SECONDS = 0.5
    lead, reviewer = people
    register(make_api(lead), project, receiver.url)
    receiver.script = [Reply(200, delay=3), Reply(200)]
    item = disputed_preference(project)
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        approve(make_api(reviewer), item, annotations_of(item)[0])
    first_attempt = time.monotonic() - started
    assert first_attempt < 2.5  # held no longer than the timeout (plus the request's own work)
    drain()
    assert len(receiver.wait(2)) == 2
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.DELIVERED and delivery.attempts == 2
    timed_out = Attempt.objects.get(number=1)
    assert timed_out.response_code is None and "Timed out" in timed_out.error
    assert timed_out.duration_ms < 1500


def test_a_redirect_is_not_followed(
    project, people, make_api, receiver, fast_retries, django_capture_on_commit_callbacks
):
    lead, reviewer = people
    register(make_api(lead), project, receiver.url)
    item = disputed_preference(project)
    with Receiver() as elsewhere:  # where the redirect points: another listener, never called
        receiver.script = [Reply(302, {"Location": elsewhere.url + "/internal"})]
        with django_capture_on_commit_callbacks(execute=True):
            approve(make_api(reviewer), item, annotations_of(item)[0])
        drain()
        assert elsewhere.received == []
    assert [r.path for r in receiver.received] == ["/hook"]
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.FAILED and "302" in delivery.error


def test_a_closed_port_is_retried_then_given_up_after_the_window(
    project, people, make_api, fast_retries, django_capture_on_commit_callbacks
):
    from tests.workers import free_port

    fast_retries.WEBHOOKS_RETRY_WINDOW_SECONDS = 0.5
    lead, reviewer = people
    register(make_api(lead), project, f"http://127.0.0.1:{free_port()}/nobody")
    item = disputed_preference(project)
    with django_capture_on_commit_callbacks(execute=True):
        approve(make_api(reviewer), item, annotations_of(item)[0])
    drain()
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.FAILED
    assert delivery.attempts >= 2 and "Gave up after" in delivery.error
    assert all(a.response_code is None for a in Attempt.objects.all())


def test_an_endpoint_failing_for_the_whole_window_is_disabled_and_the_page_says_so(
    project, people, make_api, receiver, fast_retries, client, django_capture_on_commit_callbacks
):
    lead, reviewer = people
    hook = register(make_api(lead), project, receiver.url)
    endpoint = Endpoint.objects.get(pk=hook["id"])
    endpoint.failing_since = timezone.now() - timedelta(hours=25)
    endpoint.save(update_fields=["failing_since"])
    receiver.script = [Reply(500)]
    item = disputed_preference(project)
    with django_capture_on_commit_callbacks(execute=True):
        approve(make_api(reviewer), item, annotations_of(item)[0])
    drain()
    endpoint.refresh_from_db()
    assert not endpoint.active and "failed for 24 h" in endpoint.disabled_reason
    assert Delivery.objects.get().state == DeliveryState.FAILED
    client.force_login(lead)
    page = client.get(f"/projects/{project.pk}/webhooks/").content.decode()
    assert 'data-testid="webhook-disabled"' in page and "failed for 24 h" in page
    # Disabled endpoints receive nothing more; turning it on again does.
    other = disputed_preference(project)
    with django_capture_on_commit_callbacks(execute=True):
        approve(make_api(reviewer), other, annotations_of(other)[0])
    assert Delivery.objects.count() == 1
    patched = make_api(lead).patch(
        f"/api/v1/webhooks/{endpoint.pk}/", {"active": True}, format="json"
    )
    assert patched.status_code == 200 and patched.json()["disabled_reason"] == ""


def test_a_success_resets_the_failing_clock(
    project, people, make_api, receiver, fast_retries, django_capture_on_commit_callbacks
):
    fast_retries.WEBHOOKS_RETRY_BASE_SECONDS = 2  # the retry waits: the clock is seen running
    fast_retries.WEBHOOKS_RETRY_MAX_SECONDS = 2
    lead, reviewer = people
    hook = register(make_api(lead), project, receiver.url)
    receiver.script = [Reply(500), Reply(200)]
    item = disputed_preference(project)
    with django_capture_on_commit_callbacks(execute=True):
        approve(make_api(reviewer), item, annotations_of(item)[0])
    endpoint = Endpoint.objects.get(pk=hook["id"])
    assert endpoint.failing_since is not None
    drain()
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.active


def test_deliveries_about_one_item_arrive_in_order(
    project, people, make_api, receiver, fast_retries, django_capture_on_commit_callbacks
):
    fast_retries.WEBHOOKS_RETRY_BASE_SECONDS = 2  # the reopening comes while the approval waits
    fast_retries.WEBHOOKS_RETRY_MAX_SECONDS = 2
    lead, reviewer = people
    register(make_api(lead), project, receiver.url, events=["item.approved", "item.reopened"])
    receiver.script = [Reply(503)]  # the approval fails once: the reopening must wait for it
    item = disputed_preference(project)
    with django_capture_on_commit_callbacks(execute=True):
        approve(make_api(reviewer), item, annotations_of(item)[0])
    with django_capture_on_commit_callbacks(execute=True):
        reopened = make_api(lead).post(f"/api/v1/items/{item.pk}/reopen/")
    assert reopened.status_code == 200, reopened.content
    assert len(receiver.received) == 1  # the reopening waits behind the approval's retry
    drain()
    types = [r.headers["rubric-event"] for r in receiver.wait(3)]
    assert types == ["item.approved", "item.approved", "item.reopened"]


def test_redeliver_sends_the_same_event_again_with_a_fresh_signature(
    project, people, make_api, receiver, django_capture_on_commit_callbacks
):
    lead, reviewer = people
    hook = register(make_api(lead), project, receiver.url)
    item = disputed_preference(project)
    with django_capture_on_commit_callbacks(execute=True):
        approve(make_api(reviewer), item, annotations_of(item)[0])
    first = Delivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = make_api(lead).post(f"/api/v1/deliveries/{first.pk}/redeliver/")
    assert response.status_code == 202
    assert response.json()["redelivery_of"] == first.pk
    one, two = receiver.wait(2)
    assert one.body == two.body and one.headers["rubric-delivery"] == two.headers["rubric-delivery"]
    assert two.signed_with(hook["secret"])
    assert Delivery.objects.get(pk=response.json()["id"]).state == DeliveryState.DELIVERED


def test_no_endpoint_means_no_rows_and_no_jobs(
    project, people, make_api, django_capture_on_commit_callbacks
):
    _, reviewer = people
    item = disputed_preference(project)
    with django_capture_on_commit_callbacks(execute=True):
        approve(make_api(reviewer), item, annotations_of(item)[0])
    assert not Delivery.objects.exists()
    assert not OutboxJob.objects.filter(task=DELIVER_TASK).exists()


def test_backoff_doubles_with_jitter_and_is_capped(settings):
    settings.WEBHOOKS_RETRY_BASE_SECONDS = 10
    settings.WEBHOOKS_RETRY_MAX_SECONDS = 3600
    for attempt, full in [(1, 10), (2, 20), (3, 40), (10, 3600), (30, 3600)]:
        values = [backoff_seconds(attempt) for _ in range(200)]
        assert all(full / 2 <= v <= full for v in values)
        assert len({round(v, 6) for v in values}) > 100  # jittered, not one value


def test_an_export_and_an_agreement_report_announce_that_they_finished(
    project, lead, make_api, receiver, django_capture_on_commit_callbacks
):
    register(
        make_api(lead), project, receiver.url, events=["export.finished", "agreement.finished"]
    )
    client = make_api(lead)
    with django_capture_on_commit_callbacks(execute=True):
        export = client.post(
            f"/api/v1/projects/{project.pk}/exports/", {"format": "trl-sft"}, format="json"
        ).json()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/api/v1/projects/{project.pk}/agreement/").status_code == 202
    bodies = {r.json["type"]: r.json["data"] for r in receiver.wait(2)}
    assert bodies["export.finished"]["export"]["id"] == export["id"]
    assert bodies["export.finished"]["export"]["status"] == "done"
    assert bodies["export.finished"]["export"]["sha256"]
    assert bodies["agreement.finished"]["report"]["status"] == "done"
    assert json.dumps(bodies)  # plain JSON


def test_an_import_that_auto_accepts_many_items_reads_the_endpoints_once(
    project, lead, make_api, receiver, django_capture_on_commit_callbacks
):
    """The webhooks app takes a transaction's events as one batch (core.events): 30 approvals
    announced by one import cost one read of the endpoints, and make 30 deliveries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotation import kinds
    from tests.factories import item_row

    client = make_api(lead)
    register(client, project, receiver.url)
    project.auto_accept_above = 0.5
    project.audit_rate = 0
    project.save()
    rows = [
        item_row(
            kinds.REFUSAL,
            n,
            prediction={
                "payload": {"decision": "refuse", "response": "No.", "harm_category": "none"},
                "confidence": 0.99,
            },
            source="production",
        )
        for n in range(30)
    ]
    with (
        CaptureQueriesContext(connection) as captured,
        django_capture_on_commit_callbacks(execute=False) as callbacks,
    ):
        response = client.post(f"/api/v1/projects/{project.pk}/items/", rows, format="json")
    assert response.status_code == 201, response.content
    with CaptureQueriesContext(connection) as after_commit:
        for callback in callbacks:
            callback()
    lookups = [
        q for q in after_commit.captured_queries if "FROM webhooks_endpoint WHERE" in q["sql"]
    ]
    assert len(lookups) == 1
    assert Delivery.objects.filter(event_type="item.approved").count() == 30
    assert OutboxJob.objects.filter(task=DELIVER_TASK).count() == 30
    assert not [q for q in captured.captured_queries if "FROM webhooks_endpoint WHERE" in q["sql"]]


def test_a_rejection_and_a_submission_reach_the_receiver_with_their_data(
    project, people, make_api, receiver, django_capture_on_commit_callbacks
):
    lead, reviewer = people
    hook = register(
        make_api(lead), project, receiver.url, events=["item.rejected", "annotation.submitted"]
    )
    disputed = disputed_preference(project)
    with django_capture_on_commit_callbacks(execute=True):
        rejected = make_api(reviewer).post(
            f"/api/v1/items/{disputed.pk}/review/",
            {"decision": "reject", "note": "Both answers miss the point.", "then": "drop"},
            format="json",
        )
    assert rejected.status_code == 201, rejected.content
    fresh = ItemFactory(project=project)
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    worker = make_api(annotator)
    with django_capture_on_commit_callbacks(execute=True):
        task = worker.post(f"/api/v1/projects/{project.pk}/claim/").json()
        assert task["item"]["id"] == fresh.pk
        submitted = worker.post(
            f"/api/v1/assignments/{task['assignment']['id']}/submit/",
            {"payload": {"rating": 1}},
            format="json",
        )
    assert submitted.status_code == 201, submitted.content
    requests = {r.json["type"]: r for r in receiver.wait(2)}
    assert set(requests) == {"item.rejected", "annotation.submitted"}
    assert all(r.signed_with(hook["secret"]) for r in requests.values())
    data = requests["item.rejected"].json["data"]
    assert data["item"]["id"] == disputed.pk
    assert data["review"]["note"] == "Both answers miss the point."
    assert data["review"]["then"] == "drop"
    assert data["review"]["reviewer"] == reviewer.username
    data = requests["annotation.submitted"].json["data"]
    assert data["item"]["id"] == fresh.pk
    assert data["annotation"]["id"] == submitted.json()["id"]
    assert data["annotation"]["annotator"] == annotator.username
    assert data["annotation"]["payload"]["rating"] == 1


def test_a_stalled_item_reaches_the_receiver(
    project, lead, make_api, receiver, django_capture_on_commit_callbacks
):
    register(make_api(lead), project, receiver.url, events=["item.stalled"])
    item = ItemFactory(project=project)
    others = [MembershipFactory(project=project) for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        for membership in [project.memberships.get(user=lead), *others]:
            assignment = assignment_claim_next(membership=membership)
            assert assignment.item_id == item.pk
            assignment_skip(
                assignment_id=assignment.pk, annotator=membership.user, reason="needs_expertise"
            )
    item.refresh_from_db()
    assert item.status == ItemStatus.STALLED
    (request,) = receiver.wait(1)
    assert request.json["type"] == "item.stalled"
    assert request.json["data"]["item"] == {
        "id": item.pk,
        "external_id": item.external_id,
        "kind": item.kind,
        "split": item.split,
        "status": "stalled",
        "round": item.round,
    }
    assert request.json["data"]["round"] == item.round


def _synchronous_commit() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_recording_after_commit_skips_the_wal_flush_only_in_its_own_transaction(
    receiver, require_postgres
):
    """The request that announced the events waits for their recording (after its commit): that
    transaction of its own does not wait for the WAL flush; a caller's transaction keeps its
    durability."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from review.events import ItemApproved
    from tests.factories import ProjectFactory
    from webhooks.services import deliveries_record

    project = ProjectFactory()
    Endpoint.objects.create(project=project, url=receiver.url, secret="s", events=["item.approved"])

    def event(n):
        return ItemApproved(
            project_id=project.pk, item_id=n, final_record_id=n, provenance="x", reviewer_id=None
        )

    assert not connection.in_atomic_block
    with CaptureQueriesContext(connection) as own:
        assert len(deliveries_record([event(1), event(2)])) == 2
    assert [q for q in own.captured_queries if q["sql"].startswith("SET LOCAL synchronous_commit")]
    assert _synchronous_commit() == "on"  # SET LOCAL: over with that transaction

    with transaction.atomic(), CaptureQueriesContext(connection) as inside:
        assert len(deliveries_record([event(3)])) == 1
        assert _synchronous_commit() == "on"
    assert not [
        q for q in inside.captured_queries if q["sql"].startswith("SET LOCAL synchronous_commit")
    ]
    assert Delivery.objects.count() == 3
