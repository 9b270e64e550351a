"""The lead's webhooks page: register endpoints (the secret shown once), see which were
disabled and why, turn them on or off, read each one's delivery log and redeliver."""

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from annotation.access import membership_get
from annotation.models import Membership, Project, Role
from core.errors import ApplicationError
from webhooks import selectors, services
from webhooks.events import webhook_events

LOG_LIMIT = 100  # deliveries shown on an endpoint's page, newest first


class EndpointForm(forms.Form):
    url = forms.CharField(
        max_length=2000,
        label="Payload URL",
        widget=forms.URLInput(attrs={"placeholder": "https://example.org/hooks/rubric"}),
    )
    description = forms.CharField(max_length=200, required=False)
    events = forms.MultipleChoiceField(
        choices=[(kind.name, f"{kind.name} — {kind.description}") for kind in webhook_events],
        widget=forms.CheckboxSelectMultiple,
        initial=["item.approved", "export.finished"],
    )


def _lead(request: HttpRequest, project_id: Any) -> Membership:
    return membership_get(user=request.user, project_id=project_id, role=Role.LEAD)


def _page(
    request: HttpRequest,
    membership: Membership,
    form: EndpointForm,
    *,
    created: Any = None,
    status: int = 200,
) -> HttpResponse:
    project: Project = membership.project
    endpoints = list(selectors.endpoint_list(project=project))
    context = {
        "project": project,
        "membership": membership,
        "form": form,
        "endpoints": endpoints,
        "disabled": [e for e in endpoints if not e.active and e.disabled_at],
        "created": created,
    }
    return render(request, "webhooks/list.html", context, status=status)


@require_GET
@login_required
def webhook_list(request: HttpRequest, project_id: int) -> HttpResponse:
    membership = _lead(request, project_id)
    return _page(request, membership, EndpointForm())


@require_POST
@login_required
def webhook_create(request: HttpRequest, project_id: int) -> HttpResponse:
    membership = _lead(request, project_id)
    form = EndpointForm(request.POST)
    if form.is_valid():
        try:
            endpoint = services.endpoint_create(
                project=membership.project,
                actor=request.user,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
                description=form.cleaned_data["description"],
            )
        except ApplicationError as exc:
            errors = exc.extra.get("errors") or [{"field": None, "message": exc.message}]
            for error in errors:
                field = error["field"] if error["field"] in form.fields else None
                form.add_error(field, error["message"])
        else:
            # The secret is shown on this answer only (not a redirect that could be reloaded).
            return _page(request, membership, EndpointForm(), created=endpoint)
    return _page(request, membership, form, status=400)


@require_POST
@login_required
def webhook_toggle(request: HttpRequest, webhook_id: int) -> HttpResponse:
    endpoint = selectors.endpoint_get_for_lead(user=request.user, endpoint_id=webhook_id)
    services.endpoint_update(
        endpoint=endpoint, actor=request.user, active=request.POST.get("active") == "1"
    )
    return redirect("webhooks:list", project_id=endpoint.project_id)


@require_POST
@login_required
def webhook_delete(request: HttpRequest, webhook_id: int) -> HttpResponse:
    endpoint = selectors.endpoint_get_for_lead(user=request.user, endpoint_id=webhook_id)
    project_id = endpoint.project_id
    services.endpoint_delete(endpoint=endpoint, actor=request.user)
    return redirect("webhooks:list", project_id=project_id)


@require_GET
@login_required
def webhook_deliveries(request: HttpRequest, webhook_id: int) -> HttpResponse:
    endpoint = selectors.endpoint_get_for_lead(user=request.user, endpoint_id=webhook_id)
    membership = _lead(request, endpoint.project_id)
    deliveries = list(selectors.delivery_list(endpoint=endpoint)[:LOG_LIMIT])
    context = {
        "project": endpoint.project,
        "membership": membership,
        "endpoint": endpoint,
        "deliveries": deliveries,
        "log_limit": LOG_LIMIT,
        "redelivered": request.GET.get("redelivered"),
        "error": None,
    }
    return render(request, "webhooks/deliveries.html", context)


@require_POST
@login_required
def delivery_redeliver(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery = selectors.delivery_get_for_lead(user=request.user, delivery_id=delivery_id)
    endpoint = delivery.endpoint
    try:
        again = services.delivery_redeliver(delivery=delivery, actor=request.user)
    except ApplicationError as exc:
        membership = _lead(request, endpoint.project_id)
        context = {
            "project": endpoint.project,
            "membership": membership,
            "endpoint": endpoint,
            "deliveries": list(selectors.delivery_list(endpoint=endpoint)[:LOG_LIMIT]),
            "log_limit": LOG_LIMIT,
            "redelivered": None,
            "error": exc.message,
        }
        return render(request, "webhooks/deliveries.html", context, status=exc.status_code)
    return redirect(f"{reverse('webhooks:deliveries', args=[endpoint.pk])}?redelivered={again.pk}")
