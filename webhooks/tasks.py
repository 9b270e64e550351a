"""Webhook jobs: one delivery attempt (through the outbox) and the hourly prune of the log."""

from celery import shared_task

from core import outbox
from webhooks.services import DELIVER_TASK, deliveries_prune, delivery_attempt, delivery_give_up


@outbox.job(DELIVER_TASK, on_give_up=delivery_give_up)
def deliver(delivery_id: int, seq: int = 0) -> None:
    """One attempt of a webhook delivery, through the outbox (core/outbox.py): at most the
    timeout long; a worker killed mid-attempt has the job handed back by the sweeper and the
    attempt made again."""
    delivery_attempt(delivery_id=delivery_id, seq=seq)


@shared_task(name="webhooks.prune_deliveries", ignore_result=True)
def prune_deliveries() -> int:
    """Periodic (CELERY_BEAT_SCHEDULE): the delivery log keeps its last days only."""
    return deliveries_prune()
