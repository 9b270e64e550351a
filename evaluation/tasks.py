"""Celery tasks of the evaluation app: they take ids and call one service."""

import logging

from core import outbox
from evaluation.models import REPORT_TASK, EvaluationReport
from evaluation.services import (
    evaluation_report_build,
    evaluation_report_fail,
    evaluation_report_give_up,
    evaluation_report_requeued,
)

logger = logging.getLogger(__name__)


@outbox.job(
    REPORT_TASK, on_requeue=evaluation_report_requeued, on_give_up=evaluation_report_give_up
)
def evaluation_report(report_id: int) -> None:
    """Build one evaluation report, through the outbox (core/outbox.py). A worker killed
    mid-run leaves the report "running"; the message comes back (acks_late,
    reject_on_worker_lost) or the sweeper hands the job back when its heartbeat stops, and the
    build starts over. A lost database connection goes back to the outbox, which retries it
    later (up to three runs); any other error marks the report failed."""
    try:
        evaluation_report_build(report_id=report_id)
    except EvaluationReport.DoesNotExist:
        logger.warning("evaluation report %s no longer exists (project deleted?)", report_id)
    except outbox.TRANSIENT:
        raise
    except Exception as exc:
        logger.exception("evaluation report %s failed", report_id)
        evaluation_report_fail(report_id=report_id, error=f"{type(exc).__name__}: {exc}")
