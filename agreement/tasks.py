"""Celery tasks of the agreement app: they take ids and call one service."""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError, connection

from agreement.models import AgreementReport
from agreement.services import agreement_report_build, agreement_report_fail

logger = logging.getLogger(__name__)


@shared_task(name="agreement.report", bind=True, acks_late=True, max_retries=3)
def agreement_report(self, report_id: int) -> None:
    """Build one agreement report. A worker killed mid-run leaves the report "running"; the
    message is delivered again (acks_late, reject_on_worker_lost) and the build starts over.
    A lost database connection is retried; any other error marks the report failed."""
    try:
        agreement_report_build(report_id=report_id)
    except AgreementReport.DoesNotExist:
        logger.warning("agreement report %s no longer exists (project deleted?)", report_id)
    except (OperationalError, InterfaceError) as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc
        connection.close()  # a broken connection is replaced on the next query
        agreement_report_fail(report_id=report_id, error=f"Database unavailable: {exc}")
    except Exception as exc:
        logger.exception("agreement report %s failed", report_id)
        agreement_report_fail(report_id=report_id, error=f"{type(exc).__name__}: {exc}")
