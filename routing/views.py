"""The calibration page (leads): routing counts, the latest report with its reliability
diagram, "Compute now", and a polling status while a report is being built."""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from annotation.access import membership_get
from annotation.models import Membership, Role
from routing import charts
from routing.selectors import (
    calibration_report_is_active,
    calibration_report_read,
    routing_counts,
)
from routing.services import calibration_report_request


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _effective(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def _error_text(error: dict[str, Any] | None) -> dict[str, str] | None:
    if not error:
        return None
    return {
        "value": _pct(error.get("value")),
        "low": _pct(error.get("low")),
        "high": _pct(error.get("high")),
        "n": error.get("n", 0),
        "n_effective": _effective(error.get("n_effective")),
    }


def _context(membership: Membership) -> dict[str, Any]:
    project = membership.project
    reading = calibration_report_read(project=project)
    report = reading.report
    counts = routing_counts(project=project)
    context: dict[str, Any] = {
        "project": project,
        "membership": membership,
        "report": report,
        "pending": reading.pending,
        "polling": calibration_report_is_active(reading.pending),
        "counts": counts,
        "threshold": project.auto_accept_above,
        "target": _pct(project.calibration_target),
        "audit_off": project.auto_accept_above is not None and project.audit_rate == 0,
    }
    if report is None:
        return context
    result = report.result
    current = result.get("current_threshold_error") or {}
    context.update(
        result=result,
        ece="—" if result.get("ece") is None else f"{result['ece']:.4f}",
        brier="—" if result.get("brier") is None else f"{result['brier']:.4f}",
        current_error={
            "value": _pct(current.get("value")),
            "low": _pct(current.get("low")),
            "high": _pct(current.get("high")),
            "n": current.get("n", 0),
            "n_effective": _effective(current.get("n_effective")),
        },
        recommended_error=_error_text(result.get("recommended_error")),
        automated_share=_pct(result.get("automated_share")),
        chart=charts.reliability_diagram(
            result.get("bins", []),
            threshold=result.get("threshold"),
            recommended=result.get("recommended_threshold"),
        )
        if result.get("n")
        else "",
    )
    return context


@require_GET
@login_required
def report(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
    return render(request, "routing/calibration.html", _context(membership))


@require_GET
@login_required
def panel(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
    if not request.htmx:
        return redirect("routing:report", project_id=project_id)
    return render(request, "routing/calibration.html#panel", _context(membership))


@require_POST
@login_required
def compute(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
    calibration_report_request(project=membership.project, actor=request.user)
    if not request.htmx:
        return redirect("routing:report", project_id=project_id)
    return render(request, "routing/calibration.html#panel", _context(membership))
