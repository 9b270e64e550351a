"""The lead's exports page: start an export, watch it build, download the file and manifest."""

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from annotation.access import membership_get
from annotation.models import Kind, Membership, Project, Role
from core.errors import ApplicationError
from core.models import JobStatus
from exports import selectors, services
from exports.formats import FORMATS, SHAPES
from exports.models import ExportJob, ExportSplit

LIST_LIMIT = 100  # jobs shown on the page, newest first


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


# (name, the kinds it takes, file extension) for the page's format legend
FORMAT_ROWS = [(name, ", ".join(sorted(fmt.kinds)), fmt.extension) for name, fmt in FORMATS.items()]


class ExportForm(forms.Form):
    format = forms.ChoiceField(
        choices=[(name, f"{name} — {fmt.description}") for name, fmt in FORMATS.items()]
    )
    shape = forms.ChoiceField(
        choices=[("", "trl-sft (default)"), *[(s, s) for s in SHAPES]],
        required=False,
        label="Parquet row shape",
    )
    split = forms.ChoiceField(
        choices=ExportSplit.choices, initial=ExportSplit.TRAIN, widget=forms.RadioSelect
    )
    kinds = forms.MultipleChoiceField(
        choices=Kind.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    categories = forms.MultipleChoiceField(
        choices=[], required=False, widget=forms.CheckboxSelectMultiple
    )
    approved_since = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Approved since"
    )
    pass_fail = forms.BooleanField(
        required=False,
        label="Also a row per item scored pass/fail, labelled by it (trl-kto only)",
    )
    exclude_auto = forms.BooleanField(
        required=False, label="Leave out records auto-accepted by confidence"
    )
    since_last = forms.BooleanField(
        required=False,
        label="Only what was approved since the last export of this format and split",
    )
    extra_columns = forms.BooleanField(
        required=False, label="Add each item's external_id and metadata as extra columns"
    )
    redact_personal_data = forms.BooleanField(
        required=False,
        label="Redact personal data found in the rows ([EMAIL], [PHONE], [CARD], ...)",
    )
    exclude_near_duplicates = forms.BooleanField(
        required=False, label="Leave out train items that near-duplicate an eval item"
    )
    annotator_names = forms.ChoiceField(
        choices=[
            (services.PSEUDONYMS, "Pseudonyms (Annotator 3f9a1c)"),
            (services.USERNAMES, "Usernames"),
        ],
        required=False,
        label="Annotators in the annotations format",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        project_kinds = [k for k in Kind.values if k in project.kinds] or Kind.values
        self.fields["kinds"].choices = [(k, Kind(k).label) for k in project_kinds]
        self.fields["kinds"].initial = project_kinds
        names = list(dict.fromkeys([*project.categories, *project.harm_categories]))
        self.fields["categories"].choices = [(n, n) for n in names]

    def request_options(self) -> dict[str, Any]:
        """The service's keyword arguments: every kind ticked (or none) means no kind filter,
        no category ticked means no category filter."""
        data = self.cleaned_data
        kinds = data["kinds"]
        all_kinds = {value for value, _ in self.fields["kinds"].choices}
        return {
            "format": data["format"],
            "shape": (data["shape"] or None) if data["format"] == "parquet" else None,
            "split": data["split"],
            "kinds": None if not kinds or set(kinds) == all_kinds else kinds,
            "categories": data["categories"] or None,
            "approved_since": data["approved_since"],
            "pass_fail": bool(data.get("pass_fail")),
            "exclude_auto": bool(data.get("exclude_auto")),
            "since_last": bool(data.get("since_last")),
            "extra_columns": bool(data.get("extra_columns")),
            "redact_personal_data": bool(data.get("redact_personal_data")),
            "exclude_near_duplicates": bool(data.get("exclude_near_duplicates")),
            "annotator_names": (data.get("annotator_names") or None)
            if FORMATS[data["format"]].per_annotation
            or (data["format"] == "parquet" and data["shape"] == "annotations")
            else None,
        }


def _lead(request: HttpRequest, project_id: int) -> Membership:
    return membership_get(user=request.user, project_id=project_id, role=Role.LEAD)


def _page_context(project: Project, form: ExportForm, **extra: Any) -> dict[str, Any]:
    jobs = list(selectors.export_list(project=project)[:LIST_LIMIT])
    return {
        "project": project,
        "form": form,
        "jobs": jobs,
        "format_rows": FORMAT_ROWS,
        "list_limit": LIST_LIMIT,
        **extra,
    }


def _last_split(project: Project, user: Any) -> dict[str, Any]:
    """The form's initial split: the one of the caller's last export of the project, so the
    page keeps it from one export to the next."""
    last = (
        ExportJob.objects.filter(project=project, created_by=user)
        .order_by("-id")
        .values_list("split", flat=True)
        .first()
    )
    return {"split": last} if last else {}


@require_GET
@login_required
def export_list(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    membership = _lead(request, project_id)
    form = ExportForm(
        project=membership.project, initial=_last_split(membership.project, request.user)
    )
    context = _page_context(membership.project, form, membership=membership)
    return render(request, "exports/list.html", context)


@require_POST
@login_required
def export_create(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    membership = _lead(request, project_id)
    project = membership.project
    form = ExportForm(request.POST, project=project)
    job = None
    if form.is_valid():
        try:
            job = services.export_request(
                project=project, actor=request.user, **form.request_options()
            )
        except ApplicationError as exc:
            for error in exc.extra.get("errors", []):
                field = error["field"] if error["field"] in form.fields else None
                form.add_error(field, error["message"])
    if job is not None and not request.htmx:
        return redirect("exports:list", project_id=project.pk)
    if job is not None:
        job.refresh_from_db()  # built already when tasks run in-process
        form = ExportForm(project=project, initial={"split": job.split})
    context = _page_context(project, form, started=job, membership=membership)
    if request.htmx:
        return render(request, "exports/list.html#panel", context)
    return render(request, "exports/list.html", context, status=400)


@require_GET
@login_required
def export_row(request: HtmxHttpRequest, export_id: int) -> HttpResponse:
    """One job's table row: htmx polls it every second while the job is queued or running."""
    job = selectors.export_get_for_lead(user=request.user, export_id=export_id)
    return render(request, "exports/list.html#row", {"job": job})


@require_GET
@login_required
def export_download(request: HttpRequest, export_id: int) -> HttpResponse:
    """The file, or with ``?part=manifest`` its manifest, as an attachment."""
    job: ExportJob = selectors.export_get_for_lead(user=request.user, export_id=export_id)
    part = request.GET.get("part", "file")
    if part not in ("file", "manifest") or job.status != JobStatus.DONE:
        return render(
            request,
            "exports/not_ready.html",
            {"job": job, "project": job.project},
            status=409 if part in ("file", "manifest") else 400,
        )
    return selectors.export_download_response(job=job, part=part)
