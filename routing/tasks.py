"""Celery tasks of the routing app: they take ids and call one service."""

import logging

from core import outbox
from routing import rerouting
from routing.models import REPORT_TASK, CalibrationReport
from routing.services import (
    calibration_report_build,
    calibration_report_fail,
    calibration_report_give_up,
    calibration_report_requeued,
)

logger = logging.getLogger(__name__)


@outbox.job(
    REPORT_TASK, on_requeue=calibration_report_requeued, on_give_up=calibration_report_give_up
)
def calibration_report(report_id: int) -> None:
    """Build one calibration report through the outbox (core/outbox.py): a killed run is handed
    back and starts over; a lost database connection is retried later; any other error marks
    the report failed."""
    try:
        calibration_report_build(report_id=report_id)
    except CalibrationReport.DoesNotExist:
        logger.warning("calibration report %s no longer exists (project deleted?)", report_id)
    except outbox.TRANSIENT:
        raise
    except Exception as exc:
        logger.exception("calibration report %s failed", report_id)
        calibration_report_fail(report_id=report_id, error=f"{type(exc).__name__}: {exc}")


@outbox.job(rerouting.REROUTE_TASK)
def items_reroute(project_id: int) -> None:
    """Route a project's untouched items again after a routing policy change too large for
    the settings' transaction (routing/rerouting.py): batch by batch, idempotent, so a killed
    run handed back simply runs again."""
    if rerouting.items_reroute_in_batches(project_id=project_id) is None:
        logger.warning("re-routing: project %s no longer exists", project_id)
