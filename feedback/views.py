""" "My work": an annotator's submitted annotations and what became of them, and changing one
while its item is still open."""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from annotation import kinds, queue, workspace
from annotation.access import membership_get
from annotation.models import Annotation
from annotation.selectors import annotator_data
from core.errors import ApplicationError, Conflict
from feedback import selectors, services

PAGE_SIZE = 25
STATUS_LABELS = {
    selectors.WAITING: "Waiting",
    selectors.APPROVED: "Approved",
    selectors.EDITED: "Approved after an edit",
    selectors.REJECTED: "Rejected",
}


def _rows(kind: kinds.ItemKind, payload: Any, display_order: str) -> list[kinds.ReviewRow]:
    """A payload laid out as rows, in the terms of a page shown in `display_order`."""
    if not isinstance(payload, dict):
        return []
    return kind.review_rows(kind.to_display(payload, display_order), [])


def _entry(annotation: Annotation) -> dict[str, Any]:
    item = annotation.item
    kind = kinds.kind_get(item.kind)
    order = annotation.display_order
    return {
        "annotation": annotation,
        "kind": kind,
        "prompt": kinds.representative_prompt(annotator_data(item, annotation.project)),
        "status": annotation.outcome,
        "status_label": STATUS_LABELS[annotation.outcome],
        "mine": _rows(kind, annotation.payload, order),
        "final": _rows(kind, annotation.final_payload, order)
        if annotation.final_payload is not None and annotation.outcome == selectors.EDITED
        else [],
        "gold": None if not item.is_gold else ("hit" if annotation.gold_correct else "miss"),
        "expected": _rows(kind, item.gold, order) if item.is_gold else [],
        "editable": selectors.editable(annotation),
    }


@require_http_methods(["GET"])
@login_required
def my_work(request: HttpRequest, project_id: int) -> HttpResponse:
    membership = membership_get(user=request.user, project_id=project_id)
    status = request.GET.get("status") or ""
    if status and status not in selectors.STATUSES:
        status = ""
    work = selectors.my_work(membership=membership, status=status or None)
    page = Paginator(work, PAGE_SIZE).get_page(request.GET.get("page"))
    new = selectors.news_count(membership=membership)
    services.work_seen(membership=membership)
    context = {
        "project": membership.project,
        "membership": membership,
        "entries": [_entry(a) for a in page.object_list],
        "page": page,
        "status": status,
        "statuses": list(STATUS_LABELS.items()),
        "figures": selectors.my_figures(membership=membership),
        "new": new,
    }
    return render(request, "feedback/my_work.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def change(request: HttpRequest, project_id: int, annotation_id: int) -> HttpResponse:
    """Change an annotation while its item is open: the task's form with the answer in it."""
    membership = membership_get(user=request.user, project_id=project_id)
    annotation = (
        Annotation.objects.select_related("item", "project")
        .filter(pk=annotation_id, project_id=membership.project_id, annotator_id=request.user.pk)
        .first()
    )
    if annotation is None:
        raise Http404("No such annotation.")
    item, kind = annotation.item, kinds.kind_get(annotation.item.kind)
    values, errors, message, status = workspace.annotation_values(annotation), [], "", 200
    if request.method == "POST":
        values = workspace.item_form_values(item, annotation.project, request.POST)
        payload, errors = kind.payload_from_form(values, annotation.display_order)
        if not errors:
            try:
                queue.annotation_update(
                    annotation_id=annotation.pk, annotator=request.user, payload=payload
                )
            except Conflict as error:
                message, status = error.message, 409
            except ApplicationError as error:
                errors = error.extra.get("errors") or [{"field": "", "message": error.message}]
            else:
                return redirect("feedback:my-work", project_id=project_id)
        if errors:
            status = 400
    elif not selectors.editable(annotation):
        message = "Its item has completed, so this annotation is read-only now."
    task = workspace.item_display(
        item, annotation.project, annotation.display_order, values, errors
    )
    context = {
        "project": membership.project,
        "membership": membership,
        "annotation": annotation,
        "task": task,
        "message": message,
        "editable": selectors.editable(annotation) and status != 409,
    }
    return render(request, "feedback/change.html", context, status=status)
