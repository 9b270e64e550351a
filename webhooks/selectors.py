"""Reads of endpoints and deliveries, reached through the caller's lead membership."""

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from annotation.access import membership_get
from annotation.models import Project, Role
from webhooks.models import Delivery, Endpoint


def _pk(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404(f"No such {what}.") from None


def endpoint_list(*, project: Project) -> QuerySet[Endpoint]:
    return Endpoint.objects.filter(project=project).order_by("id")


def endpoint_get_for_lead(*, user: Any, endpoint_id: Any) -> Endpoint:
    """The endpoint, for a lead of its project: 404 for a non-member, 403 for another role."""
    endpoint = (
        Endpoint.objects.select_related("project").filter(pk=_pk(endpoint_id, "webhook")).first()
    )
    if endpoint is None:
        raise Http404("No such webhook.")
    try:
        membership_get(user=user, project_id=endpoint.project_id, role=Role.LEAD)
    except Http404:
        raise Http404("No such webhook.") from None
    return endpoint


def delivery_get_for_lead(*, user: Any, delivery_id: Any) -> Delivery:
    delivery = (
        Delivery.objects.select_related("endpoint", "endpoint__project")
        .filter(pk=_pk(delivery_id, "delivery"))
        .first()
    )
    if delivery is None:
        raise Http404("No such delivery.")
    try:
        membership_get(user=user, project_id=delivery.endpoint.project_id, role=Role.LEAD)
    except Http404:
        raise Http404("No such delivery.") from None
    return delivery


def delivery_list(*, endpoint: Endpoint) -> QuerySet[Delivery]:
    """The endpoint's deliveries, newest first, with their attempts."""
    return (
        Delivery.objects.filter(endpoint=endpoint).order_by("-id").prefetch_related("attempt_log")
    )
