"""Celery tasks of the evaluation app: they take ids and call one service."""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError, connection

from evaluation.models import EvaluationReport
from evaluation.services import evaluation_report_build, evaluation_report_fail

logger = logging.getLogger(__name__)


@shared_task(name="evaluation.report", bind=True, acks_late=True, max_retries=3)
def evaluation_report(self, report_id: int) -> None:
    """Build one evaluation report. A worker killed mid-run leaves the report "running"; the
    message is delivered again (acks_late, reject_on_worker_lost) and the build starts over.
    A lost database connection is retried; any other error marks the report failed."""
    try:
        evaluation_report_build(report_id=report_id)
    except EvaluationReport.DoesNotExist:
        logger.warning("evaluation report %s no longer exists (project deleted?)", report_id)
    except (OperationalError, InterfaceError) as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc
        connection.close()
        evaluation_report_fail(report_id=report_id, error=f"Database unavailable: {exc}")
    except Exception as exc:
        logger.exception("evaluation report %s failed", report_id)
        evaluation_report_fail(report_id=report_id, error=f"{type(exc).__name__}: {exc}")
