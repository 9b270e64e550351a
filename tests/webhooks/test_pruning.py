"""The delivery log keeps its last WEBHOOKS_DELIVERIES_KEPT_DAYS: ended deliveries older than
that go, with their attempts, hourly; pending ones stay whatever their age."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import ProjectFactory
from webhooks.models import Attempt, Delivery, DeliveryState, Endpoint
from webhooks.services import deliveries_prune
from webhooks.tasks import prune_deliveries

pytestmark = pytest.mark.django_db


def delivery(endpoint, state, ended_days_ago=None, created_days_ago=0):
    now = timezone.now()
    made = Delivery.objects.create(
        endpoint=endpoint,
        event_type="item.approved",
        state=state,
        next_attempt_at=now,
        created_at=now - timedelta(days=created_days_ago),
        finished_at=None if ended_days_ago is None else now - timedelta(days=ended_days_ago),
    )
    Attempt.objects.create(delivery=made, number=1, started_at=now, duration_ms=5.0)
    return made


@pytest.fixture
def endpoint():
    return Endpoint.objects.create(
        project=ProjectFactory(), url="https://hooks.example.org/in", secret="whsec_x"
    )


def test_ended_deliveries_older_than_the_window_go_with_their_attempts(endpoint):
    old_ok = delivery(endpoint, DeliveryState.DELIVERED, ended_days_ago=31)
    old_failed = delivery(endpoint, DeliveryState.FAILED, ended_days_ago=40)
    recent = delivery(endpoint, DeliveryState.DELIVERED, ended_days_ago=29)
    waiting = delivery(endpoint, DeliveryState.PENDING, created_days_ago=90)

    assert deliveries_prune(days=30) == 2

    assert set(Delivery.objects.all()) == {recent, waiting}
    assert not Attempt.objects.filter(delivery_id__in=[old_ok.pk, old_failed.pk]).exists()
    assert Attempt.objects.count() == 2


def test_the_periodic_task_keeps_the_setting_days(endpoint, settings):
    settings.WEBHOOKS_DELIVERIES_KEPT_DAYS = 7
    delivery(endpoint, DeliveryState.DELIVERED, ended_days_ago=8)
    kept = delivery(endpoint, DeliveryState.DELIVERED, ended_days_ago=6)

    assert prune_deliveries() == 1
    assert list(Delivery.objects.all()) == [kept]
    assert "webhooks.prune_deliveries" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }


def test_the_default_keeps_thirty_days(settings):
    assert settings.WEBHOOKS_DELIVERIES_KEPT_DAYS == 30
