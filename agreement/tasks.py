"""Celery tasks of the agreement app: they take ids and call one service."""

import logging

from celery import shared_task

from agreement.models import REPORT_TASK, AgreementReport
from agreement.services import (
    agreement_report_build,
    agreement_report_fail,
    agreement_report_give_up,
    agreement_report_requeued,
    agreement_reports_prune,
)
from core import outbox

logger = logging.getLogger(__name__)


@outbox.job(REPORT_TASK, on_requeue=agreement_report_requeued, on_give_up=agreement_report_give_up)
def agreement_report(report_id: int) -> None:
    """Build one agreement report, through the outbox (core/outbox.py). A worker killed mid-run
    leaves the report "running"; the message comes back (acks_late, reject_on_worker_lost) or the
    sweeper hands the job back when its heartbeat stops, and the build starts over. A lost
    database connection goes back to the outbox, which retries it later (up to three runs); any
    other error marks the report failed."""
    try:
        agreement_report_build(report_id=report_id)
    except AgreementReport.DoesNotExist:
        logger.warning("agreement report %s no longer exists (project deleted?)", report_id)
    except outbox.TRANSIENT:
        raise
    except Exception as exc:
        logger.exception("agreement report %s failed", report_id)
        agreement_report_fail(report_id=report_id, error=f"{type(exc).__name__}: {exc}")


@shared_task(name="agreement.prune_reports", ignore_result=True)
def prune_reports() -> int:
    """Periodic (CELERY_BEAT_SCHEDULE): each project keeps its newest reports only."""
    return agreement_reports_prune()
