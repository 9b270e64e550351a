"""Deliveries by real Celery workers on Redis: an approval reaches the receiver from the
worker; a worker killed (SIGKILL) mid-delivery has the delivery attempted again by another."""

import os
import signal
import uuid

import pytest
from django.conf import settings as django_settings
from django.db import connection

from annotation.models import Role
from core.models import OutboxJob, OutboxState
from tests.conftest import _redis_reachable, needs
from tests.factories import MembershipFactory, ProjectFactory
from tests.review.review_fixtures import annotations_of, disputed_preference
from tests.webhooks.receiver import Reply
from tests.workers import celery_broker, start_worker, stop, wait_for
from webhooks.models import Attempt, Delivery, DeliveryState, Endpoint

pytestmark = [pytest.mark.worker, pytest.mark.usefixtures("transactional_db")]

FAST = {
    "RUBRIC_JOB_HEARTBEAT_SECONDS": "0.5",
    "RUBRIC_JOB_STALE_SECONDS": "3",
    "RUBRIC_OUTBOX_TICK_SECONDS": "1",
    "WEBHOOKS_RETRY_BASE_SECONDS": "0.2",
}


def _approve(make_api, project):
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    item = disputed_preference(project)
    response = make_api(reviewer).post(
        f"/api/v1/items/{item.pk}/review/",
        {"decision": "approve", "annotation": annotations_of(item)[0].pk},
        format="json",
    )
    assert response.status_code == 201
    return item


def test_a_worker_delivers_an_approval_after_commit(celery_worker, make_api, receiver):
    project = ProjectFactory()
    endpoint = Endpoint.objects.create(
        project=project, url=receiver.url, secret="whsec_test", events=["item.approved"]
    )
    item = _approve(make_api, project)
    (request,) = receiver.wait(1, timeout=30)
    assert request.signed_with("whsec_test")
    assert request.json["data"]["item"]["id"] == item.pk
    wait_for(
        lambda: Delivery.objects.filter(endpoint=endpoint, state=DeliveryState.DELIVERED).exists(),
        timeout=30,
        what="the delivery to be recorded",
    )


def test_a_worker_killed_mid_delivery_has_it_attempted_again(
    settings, make_api, receiver, tmp_path
):
    needs(connection.vendor == "postgresql", "a real worker needs PostgreSQL")
    needs(_redis_reachable(django_settings.REDIS_URL), "a real worker needs Redis")
    settings.RUBRIC_JOB_STALE_SECONDS = 3
    broker = django_settings.REDIS_URL
    queue = f"rubric-hook-kill-{uuid.uuid4().hex[:8]}"
    project = ProjectFactory()
    Endpoint.objects.create(
        project=project, url=receiver.url, secret="whsec_test", events=["item.approved"]
    )
    receiver.script = [Reply(200, delay=8), Reply(200)]  # the first answer never comes in time
    first = start_worker(queue=queue, broker=broker, log=tmp_path / "first.log", env=FAST)
    second = None
    try:
        with celery_broker(broker, queue):
            _approve(make_api, project)
            receiver.wait(1, timeout=60)  # the worker is inside the POST
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
            delivery = Delivery.objects.get()
            assert delivery.state == DeliveryState.PENDING and delivery.attempts == 1
            second = start_worker(
                queue=queue, broker=broker, log=tmp_path / "second.log", beat=True, env=FAST
            )
            wait_for(
                lambda: Delivery.objects.filter(state=DeliveryState.DELIVERED).exists(),
                timeout=90,
                what="the delivery to be swept and attempted again",
            )
    finally:
        stop(first)
        if second is not None:
            stop(second)
    requests = receiver.wait(2)
    assert len({r.headers["rubric-delivery"] for r in requests}) == 1  # the same event id
    delivery = Delivery.objects.get()
    assert delivery.attempts == 2
    # The killed attempt left no log row (its worker died before writing it); the second did.
    assert list(Attempt.objects.values_list("number", "outcome")) == [(2, "delivered")]
    job = OutboxJob.objects.get(task="webhooks.deliver")
    assert (job.state, job.attempts) == (OutboxState.DONE, 2)
