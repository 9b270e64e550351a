"""The evaluation page: the latest report for the chosen filters, a "Compute now" button for
leads, a polling status, and downloads (JSON, CSV)."""

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from annotation.access import ROLE_RANK, membership_get
from annotation.models import Membership, Role
from core.errors import ApplicationError
from core.models import JobStatus
from evaluation import charts, reader
from evaluation.models import EvaluationReport
from evaluation.selectors import (
    evaluation_report_csv,
    evaluation_report_for_member,
    evaluation_report_is_active,
    evaluation_report_read,
)
from evaluation.services import evaluation_filters_clean, evaluation_report_request


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _interval(figure: dict[str, Any] | None, key: str = "mean", digits: int = 2) -> dict:
    figure = figure or {}
    value = figure.get(key)
    if value is None:
        return {"value": "—", "interval": "", "n": figure.get("n", 0)}
    low, high = figure.get("low"), figure.get("high")
    interval = "" if low is None or high is None else f"[{low:.{digits}f}, {high:.{digits}f}]"
    return {"value": f"{value:.{digits}f}", "interval": interval, "n": figure.get("n", 0)}


def _model_rows(rows: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "model": row["model"],
            "n": row["n"],
            "cells": [_interval((row.get("criteria") or {}).get(k)) for k in keys],
            "pass_rate": _interval(row.get("pass_rate"), "value"),
        }
        for row in rows
    ]


def _filters(request: HttpRequest) -> dict[str, Any]:
    try:
        return evaluation_filters_clean(
            split=request.GET.get("split") or request.POST.get("split"),
            tag=request.GET.get("tag") or request.POST.get("tag"),
            category=request.GET.get("category") or request.POST.get("category"),
        ).as_dict()
    except ApplicationError:
        return reader.Filters().as_dict()


def _query(filters: dict[str, Any]) -> str:
    """The filters as a URL's query (a tag may hold `&`, `#` or spaces)."""
    return urlencode({k: v for k, v in filters.items() if v})


def _context(membership: Membership, filters: dict[str, Any]) -> dict[str, Any]:
    project = membership.project
    reading = evaluation_report_read(project=project, filters=filters)
    report = reading.report
    context: dict[str, Any] = {
        "project": project,
        "membership": membership,
        "can_compute": ROLE_RANK[membership.role] >= ROLE_RANK[Role.LEAD],
        "report": report,
        "pending": reading.pending,
        "polling": evaluation_report_is_active(reading.pending),
        "filters": filters,
        "splits": reader.SPLITS,
        "query": _query(filters),
    }
    if report is None:
        return context
    result = report.result
    criteria = result.get("criteria", [])
    keys = [c["key"] for c in criteria]
    strengths = result.get("bradley_terry", [])
    reliability = result.get("reliability_detail", {})
    context.update(
        result=result,
        criteria=criteria,
        reliability_rows=[
            {
                "key": key,
                "alpha": "—" if figures.get("alpha") is None else f"{figures['alpha']:.3f}",
                "level": figures.get("level", ""),
                "units": figures.get("units", 0),
                "warning": figures.get("warning", False),
                "notes": figures.get("notes", []),
            }
            for key, figures in reliability.items()
        ],
        model_rows=_model_rows(result.get("models", []), keys),
        tag_tables=[
            {"tag": tag, "rows": _model_rows(rows, keys)}
            for tag, rows in result.get("by_tag", {}).items()
        ],
        strength_rows=[
            {**s, "display": _interval({**s, "n": s["games"]}, "strength", 3)} for s in strengths
        ],
        strength_chart=charts.interval_chart(
            [
                charts.Estimate(s["model"], s["strength"], s["low"], s["high"], f"{s['games']}")
                for s in strengths
            ],
            title="Bradley-Terry strength with 95 % bootstrap intervals",
            value_heading="Strength",
            empty="No comparisons between two or more models yet.",
        ),
        pass_chart=charts.interval_chart(
            [
                charts.Estimate(
                    row["model"],
                    row["pass_rate"]["value"],
                    row["pass_rate"]["low"],
                    row["pass_rate"]["high"],
                    f"n={row['pass_rate']['n']}",
                )
                for row in sorted(
                    result.get("models", []),
                    key=lambda r: -(r["pass_rate"]["value"] or 0),
                )
                if row["pass_rate"]["value"] is not None
            ],
            title="Pass rate with 95 % Wilson intervals",
            value_heading="Pass rate",
            empty="No pass/fail scores yet.",
        ),
        csv_url=reverse("evaluation:download", args=[project.pk, report.pk]) + "?format=csv",
        json_url=reverse("evaluation:download", args=[project.pk, report.pk]),
    )
    return context


@require_GET
@login_required
def report(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    membership = membership_get(user=request.user, project_id=project_id, role=Role.REVIEWER)
    return render(request, "evaluation/report.html", _context(membership, _filters(request)))


@require_GET
@login_required
def panel(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    membership = membership_get(user=request.user, project_id=project_id, role=Role.REVIEWER)
    if not request.htmx:
        return redirect("evaluation:report", project_id=project_id)
    return render(request, "evaluation/report.html#panel", _context(membership, _filters(request)))


@require_POST
@login_required
def compute(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
    filters = _filters(request)
    evaluation_report_request(
        project=membership.project, actor=request.user, filters=reader.Filters.of(filters)
    )
    if not request.htmx:
        url = reverse("evaluation:report", args=[project_id])
        query = _query(filters)
        return redirect(f"{url}?{query}" if query else url)
    return render(request, "evaluation/report.html#panel", _context(membership, filters))


@require_GET
@login_required
def download(request: HttpRequest, project_id: int, report_id: int) -> HttpResponse:
    """The report as JSON (everything) or CSV (the per-model table)."""
    membership = membership_get(user=request.user, project_id=project_id, role=Role.REVIEWER)
    report: EvaluationReport | None = evaluation_report_for_member(
        project=membership.project, report_id=report_id
    )
    if report is None or report.status != JobStatus.DONE:
        raise Http404("No such report.")
    name = f"evaluation-{project_id}-{report.pk}"
    if request.GET.get("format") == "csv":
        response = HttpResponse(evaluation_report_csv(report), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response
    body = {
        "id": report.pk,
        "project": project_id,
        "computed_at": report.computed_at.isoformat() if report.computed_at else None,
        **report.result,
    }
    response = JsonResponse(body, json_dumps_params={"indent": 2, "sort_keys": True})
    response["Content-Disposition"] = f'attachment; filename="{name}.json"'
    return response
