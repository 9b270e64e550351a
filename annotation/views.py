"""The annotators' workspace: a project page, then one task at a time, swapped in by htmx.

Thin function views: check membership through annotation.access, call a queue service, render the
page or, for htmx, the `task` partial. Responses keep their meaning in the status code (400
invalid, 409 lease lost); the workspace page tells htmx to swap those in.
"""

import contextlib
from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from annotation import queue, selectors, services, workspace
from annotation.access import assignment_get_for_annotator, membership_get
from annotation.models import Annotation, Assignment, Membership, Project, SkipReason
from core.errors import ApplicationError, Conflict
from core.markdown import render_markdown

WORKSPACE = "annotation/workspace.html"
LEASE_LOST = (
    "Your lease on this item expired — someone else may take it. Your text is below; copy it "
    "before moving on."
)
ALREADY_SUBMITTED = "This item was already submitted; a submitted answer does not change."


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _heartbeat_seconds(project: Project) -> int:
    return min(60, max(10, project.lease_seconds // 3))


def _done_today(user: Any, project: Project) -> int:
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return Annotation.objects.filter(
        project=project, annotator=user, created_at__gte=start, created_at__lt=start + timedelta(1)
    ).count()


def _task_context(
    request: HtmxHttpRequest,
    project: Project,
    assignment: Assignment | None,
    *,
    values: dict[str, Any] | None = None,
    errors: list[dict[str, str]] | None = None,
    notice: str = "",
    lost: str = "",
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "project": project,
        "assignment": assignment,
        "notice": notice,
        "lost": lost,
        "done_today": _done_today(request.user, project),
        "heartbeat_seconds": _heartbeat_seconds(project),
        "left": selectors.items_left(project=project, user=request.user),
        "left_cap": selectors.ITEMS_LEFT_CAP,
        "skip_reasons": SkipReason.choices,
    }
    if assignment is not None:
        if values is None:
            values = workspace.initial_values(assignment)
        context["task"] = workspace.task_display(assignment, values, errors or [])
    return context


def _render_task(
    request: HtmxHttpRequest, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    if request.htmx:
        return render(request, f"{WORKSPACE}#task", context, status=status)
    project = context["project"]
    context["guidelines_html"] = render_markdown(project.guidelines)
    return render(request, WORKSPACE, context, status=status)


def _next(request: HtmxHttpRequest, membership: Membership, notice: str) -> HttpResponse:
    """After a submit or skip: the next task in place (htmx), or the workspace page again."""
    if not request.htmx:
        return redirect("annotation:work", project_id=membership.project_id)
    assignment = queue.assignment_claim_next(membership=membership)
    # At the queue's end the page says one thing: that nothing is left.
    notice = notice if assignment is not None else ""
    return _render_task(
        request, _task_context(request, membership.project, assignment, notice=notice)
    )


def _keep_draft(assignment: Assignment, user: Any, values: dict[str, Any]) -> None:
    """A submit that did not go through keeps what was typed as the draft (the page cancels
    its pending autosave when it submits, so this is the copy that survives a closed tab)."""
    # Too large to keep, or already submitted: the form still shows the text either way.
    with contextlib.suppress(ApplicationError):
        queue.assignment_draft_save(assignment_id=assignment.pk, annotator=user, draft=values)


@require_GET
@login_required
def home(request: HtmxHttpRequest) -> HttpResponse:
    """The caller's projects."""
    memberships = (
        Membership.objects.filter(user=request.user)
        .select_related("project")
        .order_by("project__name", "project_id")
    )
    context = {
        "memberships": memberships,
        "can_create_project": services.project_create_allowed(request.user),
    }
    return render(request, "annotation/home.html", context)


@require_GET
@login_required
def project(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    membership = membership_get(user=request.user, project_id=project_id)
    project = membership.project
    mine = Annotation.objects.filter(project=project, annotator=request.user)
    last_version = mine.order_by("-id").values_list("guidelines_version", flat=True).first()
    return render(
        request,
        "annotation/project.html",
        {
            "membership": membership,
            "project": project,
            "guidelines_html": render_markdown(project.guidelines),
            "guidelines_changed": last_version is not None
            and last_version < project.guidelines_version,
            "done_total": mine.count(),
            "done_today": _done_today(request.user, project),
        },
    )


@require_GET
@login_required
def work(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    """Claims the caller's next item (resuming their active one first) and shows it."""
    membership = membership_get(user=request.user, project_id=project_id)
    assignment = queue.assignment_claim_next(membership=membership)
    return _render_task(request, _task_context(request, membership.project, assignment))


@require_POST
@login_required
def submit(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    assignment = assignment_get_for_annotator(user=request.user, assignment_id=assignment_id)
    membership = membership_get(user=request.user, project_id=assignment.project_id)
    answer = workspace.answer_from_post(assignment, request.POST)

    def again(status: int, **extra: Any) -> HttpResponse:
        context = _task_context(
            request, membership.project, assignment, values=answer.values, **extra
        )
        return _render_task(request, context, status=status)

    if answer.errors:
        _keep_draft(assignment, request.user, answer.values)
        return again(400, errors=answer.errors)
    seconds = answer.values.get("seconds_spent")
    if seconds is None:
        # No script ran (or it was blocked): time from the claim is the best measure left.
        seconds = max(0.0, (timezone.now() - assignment.claimed_at).total_seconds())
    try:
        queue.assignment_submit(
            assignment_id=assignment.pk,
            annotator=request.user,
            payload=answer.payload,
            seconds_spent=seconds,
        )
    except Conflict as error:
        if error.extra.get("status") == "already_submitted":
            return again(409, lost=ALREADY_SUBMITTED)
        _keep_draft(assignment, request.user, answer.values)
        return again(409, lost=LEASE_LOST)
    except ApplicationError as error:
        _keep_draft(assignment, request.user, answer.values)
        errors = error.extra.get("errors") or [{"field": "", "message": error.message}]
        return again(400, errors=errors)
    return _next(request, membership, notice="Submitted. Here is the next item.")


@require_POST
@login_required
def skip(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    """Give the item back with the reason, note and flag of the skip panel (all optional)."""
    assignment = assignment_get_for_annotator(user=request.user, assignment_id=assignment_id)
    membership = membership_get(user=request.user, project_id=assignment.project_id)
    post = request.POST
    try:
        queue.assignment_skip(
            assignment_id=assignment.pk,
            annotator=request.user,
            reason=post.get("skip_reason", ""),
            note=post.get("skip_note", ""),
            flag=post.get("skip_flag") == "on",
        )
    except Conflict:
        pass  # already submitted (another tab): moving on is what the annotator asked for
    except ApplicationError as error:
        values = workspace.assignment_form_values(assignment, post)
        errors = [
            {**e, "field": f"skip_{e['field']}"}
            for e in error.extra.get("errors") or [{"field": "", "message": error.message}]
        ]
        context = _task_context(
            request, membership.project, assignment, values=values, errors=errors
        )
        return _render_task(request, context, status=400)
    flagged = " The lead will see your flag." if post.get("skip_flag") == "on" else ""
    return _next(
        request, membership, notice=f"Skipped. It will not be offered to you again.{flagged}"
    )


@require_POST
@login_required
def heartbeat(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    """204 while the lease holds; once it is lost, the message that replaces the poller."""
    assignment = assignment_get_for_annotator(user=request.user, assignment_id=assignment_id)
    try:
        queue.assignment_heartbeat(assignment_id=assignment.pk, annotator=request.user)
    except Conflict:
        context = {"project_id": assignment.project_id, "lost": LEASE_LOST}
        return render(request, f"{WORKSPACE}#lease_lost", context, status=409)
    return HttpResponse(status=204)


@require_POST
@login_required
def draft(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    """Autosave: the form's fields as typed. Works on a lost lease too (the text survives)."""
    assignment = assignment_get_for_annotator(user=request.user, assignment_id=assignment_id)
    values = workspace.assignment_form_values(assignment, request.POST)
    try:
        queue.assignment_draft_save(
            assignment_id=assignment.pk, annotator=request.user, draft=values
        )
    except Conflict as error:
        return HttpResponse(error.message, status=409, content_type="text/plain")
    except ApplicationError as error:
        return HttpResponse(error.message, status=400, content_type="text/plain")
    return HttpResponse(status=204)
