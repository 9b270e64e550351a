"""Celery tasks of core: the outbox's periodic relay and sweeper."""

import logging

from celery import shared_task
from celery.signals import worker_ready

from core import outbox, throttle

logger = logging.getLogger(__name__)


@shared_task(name="core.outbox_tick", ignore_result=True)
def outbox_tick() -> dict:
    """Every RUBRIC_OUTBOX_TICK_SECONDS (the beat schedule): hand back or fail jobs whose
    worker stopped, publish again jobs no worker started, hand over what is due."""
    swept = outbox.sweep()
    outbox.prune()
    return vars(swept)


@shared_task(name="core.prune_auth_attempts", ignore_result=True)
def prune_auth_attempts() -> int:
    return throttle.prune()


@worker_ready.connect
def relay_on_start(**kwargs) -> None:
    """A worker that starts (after the broker came back, say) hands over what is waiting."""
    try:
        outbox.sweep()
    except Exception:
        logger.exception("outbox sweep at worker start failed")
