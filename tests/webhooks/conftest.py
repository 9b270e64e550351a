import time

import pytest

from core import outbox
from core.models import OutboxJob, OutboxState
from tests.webhooks.receiver import Receiver
from webhooks.services import DELIVER_TASK


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


@pytest.fixture
def fast_retries(settings):
    settings.WEBHOOKS_RETRY_BASE_SECONDS = 0.05
    settings.WEBHOOKS_RETRY_MAX_SECONDS = 0.2
    settings.WEBHOOKS_TIMEOUT_SECONDS = 2
    return settings


def drain(timeout: float = 20) -> None:
    """Run (in-process) every delivery job, retries included, until none waits: what the
    beat's relay does on a worker."""
    deadline = time.monotonic() + timeout
    while OutboxJob.objects.filter(task=DELIVER_TASK, state=OutboxState.PENDING).exists():
        if time.monotonic() > deadline:
            raise AssertionError("delivery jobs still pending")
        outbox.relay()
        time.sleep(0.02)
