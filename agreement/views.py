"""The agreement page: the latest report as tables, a "Compute now" button, a polling status."""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from agreement.models import AgreementReport
from agreement.selectors import (
    agreement_report_is_active,
    agreement_report_latest,
    agreement_report_pending,
    agreement_report_people,
)
from agreement.services import agreement_report_request
from annotation.access import ROLE_RANK, membership_get
from annotation.models import Membership, Role


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _membership(request: HttpRequest, project_id: int, role: str) -> Membership:
    """404 for non-members, 403 for members below `role`."""
    return membership_get(user=request.user, project_id=project_id, role=role)


# Figures of a field, in table order: (key, heading).
FIGURES = [
    ("alpha_ordinal", "\u03b1 ordinal"),
    ("alpha_interval", "\u03b1 interval"),
    ("alpha_nominal", "\u03b1 nominal"),
    ("percent_agreement", "% agreement"),
    ("side_agreement_with_ties", "Side, ties"),
    ("side_agreement_without_ties", "Side, no ties"),
    ("ac1", "AC1"),
]
FIELD_LABELS = {
    "preference.rating": "Preference rating",
    "refusal.decision": "Refusal decision",
    "refusal.harm_category": "Refusal harm category",
    "instruction.category": "Instruction category",
}


def _number(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _percent(value: Any) -> str:
    return "—" if value is None else f"{value:.1%}"


def _field_rows(report: AgreementReport) -> list[dict[str, Any]]:
    rows = []
    for key, figures in report.fields.items():
        label = FIELD_LABELS.get(key)
        if label is None and key.startswith("preference.criteria."):
            label = f"Criterion: {key.removeprefix('preference.criteria.')}"
        cells = []
        for name, _heading in FIGURES:
            if name not in figures:
                cells.append("")
            elif "agreement" in name:
                cells.append(_percent(figures[name]))
            else:
                cells.append(_number(figures[name]))
        rows.append(
            {
                "key": key,
                "label": label or key,
                "cells": cells,
                "units": figures.get("units", 0),
                "annotations": figures.get("annotations", 0),
                "notes": figures.get("notes", []),
            }
        )
    return rows


def _annotator_rows(annotators: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for entry in annotators:
        median = entry.get("median_seconds")
        rows.append(
            {
                "annotator": entry.get("annotator", ""),
                "annotations": entry.get("annotations", 0),
                "items_shared": entry.get("items_shared", 0),
                "agreement": _percent(entry.get("agreement_with_others")),
                "pairs": entry.get("agreement_pairs", 0),
                "gold_accuracy": _percent(entry.get("gold_accuracy")),
                "gold_answers": entry.get("gold_answers", 0),
                "median_seconds": "—" if median is None else f"{median:.1f} s",
                "position_bias": _percent(entry.get("position_bias_left")),
                "choices": entry.get("position_choices", 0),
            }
        )
    return rows


def _kappa_matrices(kappa: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One annotators x annotators matrix per nominal field; a cell is kappa and its items."""
    matrices = []
    for key, pairs in kappa.items():
        if not pairs:
            continue
        names = sorted({p["a"] for p in pairs} | {p["b"] for p in pairs})
        by_pair = {}
        for p in pairs:
            by_pair[(p["a"], p["b"])] = by_pair[(p["b"], p["a"])] = p
        rows = []
        for row_name in names:
            cells = []
            for col_name in names:
                p = by_pair.get((row_name, col_name))
                if row_name == col_name or p is None:
                    cells.append(None)
                else:
                    cells.append(
                        {
                            "kappa": _number(p.get("kappa"), 2),
                            "items": p.get("items", 0),
                            "note": p.get("note", ""),
                        }
                    )
            rows.append({"name": row_name, "cells": cells})
        label = FIELD_LABELS.get(key, key)
        if key == "preference.rating":
            label += " (preferred side)"
        matrices.append({"key": key, "label": label, "names": names, "rows": rows})
    return matrices


def _context(membership: Membership) -> dict[str, Any]:
    project = membership.project
    latest = agreement_report_latest(project=project)
    pending = agreement_report_pending(project=project, after=latest)
    context: dict[str, Any] = {
        "project": project,
        "membership": membership,
        # Reviewers read the figures and may ask for fresh ones, as leads do.
        "can_compute": ROLE_RANK[membership.role] >= ROLE_RANK[Role.REVIEWER],
        "report": latest,
        "pending": pending,
        "polling": agreement_report_is_active(pending),
        "figures": [heading for _name, heading in FIGURES],
    }
    if latest is not None:
        context["field_rows"] = _field_rows(latest)
        annotators, kappa = agreement_report_people(report=latest, membership=membership)
        context["annotator_rows"] = _annotator_rows(annotators)
        context["kappa_matrices"] = _kappa_matrices(kappa)
    return context


@require_GET
@login_required
def report(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    membership = _membership(request, project_id, Role.REVIEWER)
    return render(request, "agreement/report.html", _context(membership))


@require_GET
@login_required
def panel(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    """The report panel alone: what the status line polls while a report is computed."""
    membership = _membership(request, project_id, Role.REVIEWER)
    if not request.htmx:
        return redirect("agreement:report", project_id=project_id)
    return render(request, "agreement/report.html#panel", _context(membership))


@require_POST
@login_required
def compute(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    """Request a report (reviewers and leads); without htmx (the dashboard's button), the
    agreement page, which polls until the report arrives."""
    membership = _membership(request, project_id, Role.REVIEWER)
    agreement_report_request(project=membership.project, actor=request.user)
    if not request.htmx:
        return redirect("agreement:report", project_id=project_id)
    return render(request, "agreement/report.html#panel", _context(membership))
