"""The project lead's console: create a project, settings, guidelines, members, uploads, the
dashboard and the items browser.

Thin function views: the caller's membership comes from annotation.access (404 for non-members, 403
for members who are not leads), one service or selector does the work, and a service's
ApplicationError is put back on the form and the page re-rendered with a 4xx status.
"""

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from annotation import importing, item_edit, kinds, parsing, queue, selectors, services
from annotation.access import item_in_project, membership_get
from annotation.models import Assignment, AssignmentStatus, Item, ItemStatus, Membership, Role
from console import charts, dashboard, item_actions
from console.forms import (
    GuidelinesForm,
    ItemBrowseFilter,
    MemberAddForm,
    MemberRoleForm,
    ProjectCreateForm,
    ProjectSettingsForm,
    UploadForm,
    UserCreateForm,
)
from core import errors, parsers
from core.errors import ApplicationError
from core.markdown import render_markdown
from core.models import AuditEvent
from core.services import user_create
from review import services as review_services

PAGE_SIZE = 50
MAX_ERRORS_SHOWN = 500
MAX_DUPLICATES_SHOWN = 200
GUIDELINE_VERSIONS_SHOWN = 10
UPLOAD_EXTENSIONS = (".json", ".jsonl", ".ndjson", ".csv")
UPLOAD_OVERHEAD = 64 * 1024  # multipart boundaries and the CSRF field around the file


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _lead(request: HttpRequest, project_id: int) -> Membership:
    """The caller's lead membership: 404 for non-members, 403 for other roles."""
    return membership_get(user=request.user, project_id=project_id, role=Role.LEAD)


def _page(
    request: HttpRequest,
    template: str,
    membership: Membership,
    active: str,
    context: dict[str, Any],
    status: int = 200,
) -> HttpResponse:
    context = {"membership": membership, "project": membership.project, "active": active, **context}
    return render(request, template, context, status=status)


# --- a new project --------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def project_new(request: HttpRequest) -> HttpResponse:
    """Staff (any user when PROJECT_CREATORS is `everyone`) create a project and become its
    lead; others get a 403 page."""
    services.project_create_check(request.user)
    form = ProjectCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(actor=request.user, values=form.settings())
        except errors.ApplicationError as error:
            form.add_service_errors(error)
        else:
            messages.success(
                request,
                f"Project “{project.name}” created; you are its lead. Next: write the "
                "guidelines, add members and upload items.",
            )
            return redirect("console:dashboard", project_id=project.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "console/new.html", {"form": form}, status=status)


# --- settings and guidelines ----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def project_settings(request: HttpRequest, project_id: int) -> HttpResponse:
    membership = _lead(request, project_id)
    project = membership.project
    if request.method == "GET":
        form = ProjectSettingsForm.for_project(project)
        return _page(request, "console/settings.html", membership, "settings", {"form": form})
    form = ProjectSettingsForm(request.POST)
    if form.is_valid():
        try:
            project = services.project_update(
                project=project, actor=request.user, changes=form.changes()
            )
        except errors.ApplicationError as error:
            form.add_service_errors(error)
        else:
            rerouted = project.settings_effects.get("rerouted")
            saved = "Settings saved."
            if rerouted is not None:
                saved = f"{saved} {_rerouted_message(rerouted)}"
            messages.success(request, saved)
            return redirect("console:settings", project_id=project.pk)
    return _page(request, "console/settings.html", membership, "settings", {"form": form}, 400)


def _rerouted_message(rerouted: dict[str, Any]) -> str:
    """What re-routing after a routing policy change did (routing/rerouting.py)."""
    n = rerouted["items"]
    items = f"{n} untouched item{'s' if n != 1 else ''}"
    if rerouted["background"]:
        return (
            f"The routing policy changed: {items} (open, not yet annotated, with a prediction) "
            "are being routed again in the background. Auto-accepted items stay approved."
        )
    return (
        f"The routing policy changed: {items} (open, not yet annotated, with a prediction) "
        f"routed again; {rerouted['changed']} changed route, {rerouted['auto_accepted']} "
        "auto-accepted now. Auto-accepted items stay approved."
    )


def _guideline_versions(membership: Membership) -> list[dict[str, Any]]:
    """Recent guideline changes from the audit log, newest first, with their version numbers
    (each change made exactly one version)."""
    project = membership.project
    events = (
        AuditEvent.objects.filter(
            project=project, action="project.update", after__has_key="guidelines"
        )
        .select_related("actor")
        .order_by("-id")[:GUIDELINE_VERSIONS_SHOWN]
    )
    return [
        {
            "version": project.guidelines_version - i,
            "at": event.created_at,
            "by": event.actor.username if event.actor else None,
            "text": (event.after or {}).get("guidelines", ""),
        }
        for i, event in enumerate(events)
    ]


@require_http_methods(["GET", "POST"])
@login_required
def guidelines(request: HttpRequest, project_id: int) -> HttpResponse:
    membership = _lead(request, project_id)
    project = membership.project
    status = 200
    if request.method == "POST":
        form = GuidelinesForm(request.POST)
        if form.is_valid():
            before = project.guidelines_version
            try:
                project = services.project_update(
                    project=project,
                    actor=request.user,
                    changes={"guidelines": form.cleaned_data["guidelines"]},
                )
            except errors.ApplicationError as error:
                form.add_error("guidelines", error.message)
            else:
                if project.guidelines_version != before:
                    messages.success(
                        request,
                        f"Guidelines saved as version {project.guidelines_version}. Annotators "
                        "see a notice until they annotate under it.",
                    )
                else:
                    messages.info(request, "No change: the guidelines are as they were.")
                return redirect("console:guidelines", project_id=project.pk)
        status = 400
        text = request.POST.get("guidelines", "")
    else:
        text = project.guidelines
        form = GuidelinesForm(initial={"guidelines": text})
    context = {
        "form": form,
        "preview": render_markdown(text),
        "versions": _guideline_versions(membership),
    }
    return _page(request, "console/guidelines.html", membership, "guidelines", context, status)


@require_POST
@login_required
def guidelines_preview(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    """The markdown as annotators will see it: rendered without raw HTML, then sanitised."""
    _lead(request, project_id)
    text = request.POST.get("guidelines", "")[: services.MAX_GUIDELINES]
    return render(request, "console/guidelines.html#preview", {"preview": render_markdown(text)})


# --- members --------------------------------------------------------------------------------------


def _members_page(
    request: HttpRequest,
    membership: Membership,
    *,
    status: int = 200,
    add_form: MemberAddForm | None = None,
    user_form: UserCreateForm | None = None,
    error: str = "",
    created: dict[str, Any] | None = None,
) -> HttpResponse:
    members = membership.project.memberships.select_related("user").order_by("user__username").all()
    context = {
        "members": members,
        "roles": Role.choices,
        "add_form": add_form or MemberAddForm(),
        "user_form": (user_form or UserCreateForm()) if request.user.is_staff else None,
        "error": error,
        "created": created,
    }
    return _page(request, "console/members.html", membership, "members", context, status)


def _after_member_change(request: HttpRequest, project_id: int) -> HttpResponse:
    """Back to the members page, or to the project page if the caller is no longer a lead."""
    still_lead = Membership.objects.filter(
        project_id=project_id, user=request.user, role=Role.LEAD
    ).exists()
    if still_lead:
        return redirect("console:members", project_id=project_id)
    return redirect("annotation:project", project_id=project_id)


@require_GET
@login_required
def members(request: HttpRequest, project_id: int) -> HttpResponse:
    return _members_page(request, _lead(request, project_id))


@require_POST
@login_required
def member_add(request: HttpRequest, project_id: int) -> HttpResponse:
    membership = _lead(request, project_id)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            member, created = services.membership_set(
                project=membership.project,
                actor=request.user,
                username=form.cleaned_data["username"],
                role=form.cleaned_data["role"],
            )
        except errors.ApplicationError as error:
            form.add_service_errors(error)
            return _members_page(request, membership, status=error.status_code, add_form=form)
        verb = "added as" if created else "is now"
        messages.success(request, f"{member.user.username} {verb} {member.get_role_display()}.")
        return _after_member_change(request, project_id)
    return _members_page(request, membership, status=400, add_form=form)


def _member_of(membership: Membership, user_id: int) -> Membership:
    member = membership.project.memberships.select_related("user").filter(user_id=user_id).first()
    if member is None:
        raise Http404("That user is not a member of this project.")
    return member


@require_POST
@login_required
def member_role(request: HttpRequest, project_id: int, user_id: int) -> HttpResponse:
    membership = _lead(request, project_id)
    member = _member_of(membership, user_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return _members_page(request, membership, status=400, error="Choose a role.")
    try:
        services.membership_set(
            project=membership.project,
            actor=request.user,
            username=member.user.username,
            role=form.cleaned_data["role"],
        )
    except errors.ApplicationError as error:
        return _members_page(request, membership, status=error.status_code, error=error.message)
    messages.success(request, f"{member.user.username} is now {Role(form.cleaned_data['role'])}.")
    return _after_member_change(request, project_id)


@require_POST
@login_required
def member_remove(request: HttpRequest, project_id: int, user_id: int) -> HttpResponse:
    membership = _lead(request, project_id)
    member = _member_of(membership, user_id)
    try:
        services.membership_remove(
            project=membership.project, actor=request.user, membership=member
        )
    except errors.ApplicationError as error:
        return _members_page(request, membership, status=error.status_code, error=error.message)
    messages.success(request, f"{member.user.username} was removed from the project.")
    return _after_member_change(request, project_id)


@require_POST
@login_required
def member_user_create(request: HttpRequest, project_id: int) -> HttpResponse:
    """Staff create an account (and may add it to this project at once). A generated password
    is shown on this response only."""
    membership = _lead(request, project_id)
    if not request.user.is_staff:
        raise errors.PermissionDenied("Only staff create users.")
    form = UserCreateForm(request.POST)
    if not form.is_valid():
        return _members_page(request, membership, status=400, user_form=form)
    data = form.cleaned_data
    try:
        with transaction.atomic():
            user, _token, generated = user_create(
                actor=request.user,
                username=data["username"],
                password=data["password"] or None,
                email=data["email"],
            )
            if data["role"]:
                services.membership_set(
                    project=membership.project,
                    actor=request.user,
                    username=user.username,
                    role=data["role"],
                )
    except errors.ApplicationError as error:
        form.add_service_errors(error)
        return _members_page(request, membership, status=error.status_code, user_form=form)
    created = {"username": user.username, "password": generated, "role": data["role"]}
    return _members_page(request, membership, status=201, created=created)


# --- uploads --------------------------------------------------------------------------------------


def _error_rows(problems: list[dict[str, Any]], lines: list[int] | None) -> list[dict[str, Any]]:
    rows = []
    for problem in problems:
        index = problem.get("index")
        line = problem.get("line")
        if line is None and lines is not None and isinstance(index, int) and index < len(lines):
            line = lines[index]
        rows.append(
            {
                "index": index,
                "line": line,
                "external_id": problem.get("external_id"),
                "field": problem.get("field", ""),
                "message": problem.get("message", ""),
            }
        )
    return rows


def _upload_context(**extra: Any) -> dict[str, Any]:
    return {"form": UploadForm(), "csv_columns": ", ".join(parsing.CSV_COLUMNS), **extra}


def _too_large(size: int) -> str:
    try:
        parsing.check_size(size)
    except errors.PayloadTooLarge as error:
        return error.message
    return ""


@require_http_methods(["GET", "POST"])
@login_required
def upload(request: HttpRequest, project_id: int) -> HttpResponse:
    """A file of items through the import service: all or nothing, every problem listed."""
    membership = _lead(request, project_id)
    if request.method == "GET":
        return _page(request, "console/upload.html", membership, "upload", _upload_context())
    declared = request.META.get("CONTENT_LENGTH") or ""
    limit = settings.RUBRIC_IMPORT_MAX_BYTES
    if declared.isdigit() and int(declared) > limit + UPLOAD_OVERHEAD:
        # Refused before the file is read: the body is larger than any allowed file.
        context = _upload_context(error=_too_large(int(declared)))
        return _page(request, "console/upload.html", membership, "upload", context, 413)
    form = UploadForm(request.POST, request.FILES)
    context = _upload_context(form=form)
    if not form.is_valid():
        return _page(request, "console/upload.html", membership, "upload", context, 400)
    upload_file = form.cleaned_data["file"]
    context["filename"] = upload_file.name
    lines: list[int] | None = None
    try:
        if not upload_file.name.lower().endswith(UPLOAD_EXTENSIONS):
            raise errors.ApplicationError(
                "Choose a .json, .jsonl (or .ndjson) or .csv file; the extension tells the format."
            )
        parsing.check_size(upload_file.size)  # before the file is read
        rows, lines = parsing.rows_and_lines_from_file(upload_file.name, upload_file.read())
        result = importing.item_import(project=membership.project, rows=rows, actor=request.user)
    except errors.ApplicationError as error:
        problems = error.extra.get("errors") or []
        context.update(
            error=error.message,
            problems=_error_rows(problems[:MAX_ERRORS_SHOWN], lines),
            problem_count=len(problems),
            errors_shown=MAX_ERRORS_SHOWN,
        )
        return _page(
            request, "console/upload.html", membership, "upload", context, error.status_code
        )
    context.update(
        result=result,
        duplicates=result.duplicates[:MAX_DUPLICATES_SHOWN],
        duplicates_shown=MAX_DUPLICATES_SHOWN,
        form=UploadForm(),
    )
    return _page(request, "console/upload.html", membership, "upload", context)


# --- dashboard ------------------------------------------------------------------------------------

STATUS_LABELS = dict(ItemStatus.choices)


def _coverage_chart(coverage: dashboard.Coverage, title: str) -> Any:
    bars = [
        charts.Bar(
            label=row.label,
            value=row.count,
            note="" if row.share is None else f"{row.share:.1%}",
            warn=bool(row.warn),
        )
        for row in coverage.rows
    ]
    return charts.bar_chart(bars, title=title, value_heading="Items")


def _charts(board: dashboard.Dashboard) -> dict[str, Any]:
    progress, mix = board.progress, board.mix
    statuses = list(dashboard.STATUSES)
    history = board.agreement
    return {
        "progress": charts.stacked_bar_chart(
            [
                (kind, [counts.get(status, 0) for status in statuses])
                for kind, counts in progress.by_kind.items()
            ],
            [STATUS_LABELS[s] for s in statuses],
            title="Items by kind and status",
            empty="No items yet. Upload a file of items to start.",
        ),
        "per_day": charts.column_chart(
            [(day.strftime("%b %d"), n) for day, n in board.per_day],
            title=f"Annotations per day, last {dashboard.DAYS} days (UTC)",
            value_heading="Annotations",
            empty=f"No annotations in the last {dashboard.DAYS} days.",
        ),
        "agreement": charts.line_chart(
            [at.strftime("%b %d %H:%M") for at in history.computed_at],
            list(history.series.items()),
            title="Krippendorff's alpha per field over time",
            y_range=(0.0, 1.0),
            empty="No agreement report yet. Compute one on the agreement page.",
        ),
        "coverage": [
            {
                "coverage": coverage,
                "kind": kind,
                "chart": _coverage_chart(coverage, f"{kind.label} {kind.coverage_plural}"),
            }
            for kind, coverage in ((kinds.kind_get(k), c) for k, c in mix.coverage.items())
            if kind.name in board.project.kinds or coverage.total
        ],
        "decisions": charts.bar_chart(
            [
                charts.Bar(
                    label=decision,
                    value=n,
                    note=f"{n / total:.1%}" if (total := sum(mix.decisions.values())) else "",
                )
                for decision, n in mix.decisions.items()
            ]
            if any(mix.decisions.values())
            else [],
            title="Decisions (approved)",
            value_heading="Items",
            empty="No approved item with a decision yet.",
        ),
    }


@require_GET
@login_required
def dashboard_page(request: HttpRequest, project_id: int) -> HttpResponse:
    membership = _lead(request, project_id)
    board = dashboard.dashboard_get(project=membership.project)
    context = {
        "board": board,
        "charts": _charts(board),
        "min_position_choices": dashboard.MIN_POSITION_CHOICES,
        "min_gold_answers": dashboard.MIN_GOLD_ANSWERS,
        "rubber_stamp": {
            "share": dashboard.RUBBER_STAMP_SHARE,
            "min": dashboard.RUBBER_STAMP_MIN,
            "seconds": dashboard.RUBBER_STAMP_SECONDS,
            "catch_low": dashboard.CATCH_LOW,
            "min_seeded": dashboard.MIN_SEEDED,
        },
    }
    return _page(request, "console/dashboard.html", membership, "dashboard", context)


# --- items ----------------------------------------------------------------------------------------


@require_GET
@login_required
def items(request: HttpRequest, project_id: int) -> HttpResponse:
    """The project's items, filtered, newest first in pages of PAGE_SIZE (keyset on id)."""
    membership = _lead(request, project_id)
    project = membership.project
    params = request.GET.copy()
    after = params.pop("after", [None])[-1]
    filterset = ItemBrowseFilter(params, queryset=Item.objects.filter(project=project))
    context: dict[str, Any] = {"filterset": filterset, "form": filterset.form}
    if not filterset.is_valid():
        context.update(rows=[], total=0, invalid=True)
        return _page(request, "console/items.html", membership, "items", context, 400)
    matching = filterset.qs.order_by("-id")
    page = matching
    if after is not None:
        try:
            page = page.filter(pk__lt=int(after))
        except ValueError:
            raise Http404("No such page.") from None
    fields = ("id", "external_id", "kind", "status", "agreement", "split", "is_gold", "data")
    # Each row's near-duplicate group and personal data (the hygiene app's checks) in the
    # same query.
    checks = ("hygiene_check__near_group", "hygiene_check__personal_data")
    page = page.select_related("hygiene_check")
    found = list(page.only(*fields, "submitted_count", *checks)[: PAGE_SIZE + 1])
    skips = _skips_of([item.pk for item in found[:PAGE_SIZE]])
    rows = [
        {
            "item": item,
            "prompt": kinds.representative_prompt(item.data),
            "category": kinds.kind_get(item.kind).given_category(item.data),
            "skips": skips.get(item.pk, []),
        }
        for item in found[:PAGE_SIZE]
    ]
    query = params.urlencode()
    next_url = None
    if len(found) > PAGE_SIZE:
        next_params = params.copy()
        next_params["after"] = str(found[PAGE_SIZE - 1].pk)
        next_url = f"?{next_params.urlencode()}"
    context.update(
        rows=rows,
        # A search reads every item's prompt; counting its matches would read them twice.
        total=None if filterset.form.cleaned_data.get("q") else matching.count(),
        next_url=next_url,
        first_url=f"?{query}" if after is not None else None,
        query=query,
        categories=list(dict.fromkeys([*project.categories, *project.harm_categories])),
        filter_fields=_filter_fields(params),
        bulk_actions=[(name, label) for name, (label, _) in item_actions.ACTIONS.items()],
    )
    return _page(request, "console/items.html", membership, "items", context)


def _skips_of(item_ids: list[int]) -> dict[int, list[Assignment]]:
    """Who skipped each item of a browser page, and why (one query; the live skips, those a
    re-queue has not cleared), oldest first."""
    skips: dict[int, list[Assignment]] = {}
    if not item_ids:
        return skips
    found = (
        Assignment.objects.filter(item_id__in=item_ids, status=AssignmentStatus.SKIPPED)
        .select_related("annotator")
        .only("item_id", "skip_reason", "skip_note", "flagged", "annotator__username")
        .order_by("finished_at", "pk")
    )
    for skip in found:
        skips.setdefault(skip.item_id, []).append(skip)
    return skips


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def _item_page(
    request: HttpRequest,
    membership: Membership,
    found: Item,
    *,
    edit: dict[str, Any] | None = None,
    edit_errors: list[dict[str, Any]] | None = None,
    status: int = 200,
) -> HttpResponse:
    detail = selectors.item_detail(item=found, membership=membership)
    data = detail.data if isinstance(detail.data, dict) else {}
    item_now = detail.item
    context = {
        "detail": detail,
        "data": data,
        "responses": kinds.kind_get(found.kind).responses(data),
        "data_shown": kinds.kind_get(found.kind).data_shown(data),
        "back": reverse("console:items", args=[membership.project_id])
        + (f"?{request.GET.urlencode()}" if request.GET else ""),
        # The edit form: what was posted (after an error) or the item as it is.
        "edit": edit
        or {
            "data": _pretty(item_now.data),
            "metadata": _pretty(item_now.metadata or {}),
            "priority": item_now.priority,
            "split": item_now.split,
        },
        "edit_errors": edit_errors or [],
        "data_locked": bool(item_now.submitted_count or item_now.active_count),
    }
    return _page(request, "console/item.html", membership, "items", context, status)


@require_GET
@login_required
def item(request: HttpRequest, project_id: int, item_id: int) -> HttpResponse:
    membership = _lead(request, project_id)
    found = item_in_project(membership=membership, item_id=item_id)
    return _item_page(request, membership, found)


@require_POST
@login_required
def item_edit_page(request: HttpRequest, project_id: int, item_id: int) -> HttpResponse:
    """Edit one item's data (while unannotated), priority, split and metadata."""
    membership = _lead(request, project_id)
    found = item_in_project(membership=membership, item_id=item_id)
    posted = {
        name: request.POST.get(name, "") for name in ("data", "metadata", "priority", "split")
    }
    changes: dict[str, Any] = {}
    problems: list[dict[str, Any]] = []
    for name in ("data", "metadata"):
        try:
            changes[name] = parsers.loads(posted[name])
        except ValueError as exc:
            problems.append({"field": name, "message": f"Not valid JSON: {exc}."})
    try:
        changes["priority"] = float(posted["priority"])
    except ValueError:
        problems.append({"field": "priority", "message": "Must be a number."})
    changes["split"] = posted["split"]
    status = 400
    if not problems:
        try:
            _item, changed = item_edit.item_update(
                project=membership.project, item_id=found.pk, actor=request.user, changes=changes
            )
        except ApplicationError as error:
            problems = error.extra.get("errors") or [{"field": "", "message": error.message}]
            if error.status_code == 409:
                problems = [{"field": "data", "message": error.message}]
            status = error.status_code
        else:
            if changed:
                messages.success(request, f"Saved: {', '.join(changed)} changed.")
            else:
                messages.info(request, "No change: the item is as it was.")
            return redirect("console:item", project_id=project_id, item_id=found.pk)
    return _item_page(request, membership, found, edit=posted, edit_errors=problems, status=status)


@require_POST
@login_required
def item_action(request: HttpRequest, project_id: int, item_id: int) -> HttpResponse:
    """A lead's action on one item: re-queue it for annotation, send it back to review, or
    drop it; the item page again with what happened."""
    membership = _lead(request, project_id)
    found = item_in_project(membership=membership, item_id=item_id)
    action = request.POST.get("action", "")
    try:
        if action == "requeue":
            queue.item_requeue(item_id=found.pk, actor=request.user, project=membership.project)
            messages.success(request, "Re-queued: annotators may take it again.")
        elif action == "drop":
            queue.item_drop(item_id=found.pk, actor=request.user, project=membership.project)
            messages.success(request, "Dropped: it is out of the data (a lead can re-queue it).")
        elif action == "reopen":
            review_services.item_reopen(
                item_id=found.pk, actor=request.user, note=request.POST.get("note", "")
            )
            messages.success(request, "Sent back to review.")
        else:
            messages.error(request, "Unknown action.")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("console:item", project_id=project_id, item_id=found.pk)


# --- many items at once ---------------------------------------------------------------------------


def _filter_fields(params: Any) -> list[tuple[str, str]]:
    """The items browser's filters as hidden fields: the bulk form carries the selection."""
    skip = {"after", "csrfmiddlewaretoken", "action", "value", "note", "confirm_count"}
    return [(name, value) for name, value in params.items() if name not in skip and value]


@require_POST
@login_required
def items_bulk(request: HttpRequest, project_id: int) -> HttpResponse:
    """An action over every item the browser's filters select: first a confirmation naming
    the count, then (with confirm_count equal to it) the action in one transaction. No items:
    a message and nothing else."""
    membership = _lead(request, project_id)
    project = membership.project
    fields = _filter_fields(request.POST)
    back = reverse("console:items", args=[project.pk])
    if fields:
        query = QueryDict(mutable=True)
        for name, value in fields:
            query[name] = value
        back = reverse("console:items", args=[project.pk]) + "?" + query.urlencode()
    action = request.POST.get("action", "")
    value = request.POST.get("value", "")
    note = request.POST.get("note", "")
    try:
        ids = item_actions.items_selected(project=project, params=dict(fields))
        if action not in item_actions.ACTIONS:
            raise ApplicationError("Choose an action.")
        if not ids:
            messages.info(request, "No item matches the selection: nothing was done.")
            return redirect(back)
        confirm = request.POST.get("confirm_count", "")
        if confirm != str(len(ids)):
            if len(ids) > item_actions.BULK_MAX:
                raise errors.PayloadTooLarge(
                    f"The filters select more than {item_actions.BULK_MAX:,} items; narrow them."
                )
            context = {
                "count": len(ids),
                "action": action,
                "action_label": item_actions.ACTIONS[action][0],
                "value": value,
                "note": note,
                "fields": fields,
                "back": back,
                "changed_meanwhile": bool(confirm),
            }
            return _page(request, "console/items_bulk.html", membership, "items", context)
        result = item_actions.items_bulk(
            project=project,
            actor=request.user,
            item_ids=ids,
            action=action,
            value=value if item_actions.ACTIONS[action][1] else None,
            note=note,
        )
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect(back)
    messages.success(request, result.message)
    return redirect(back)
