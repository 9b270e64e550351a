"""Webhook endpoints of a project, the deliveries of events to them and each attempt."""

import uuid

from django.conf import settings
from django.db import models

from annotation.models import Project
from core.models import in_choices


class Endpoint(models.Model):
    """A URL a lead registered to receive a project's events, signed with `secret`."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    # Kept as is: the server signs with it. Shown to the lead once, when the endpoint is made.
    secret = models.CharField(max_length=100)
    events = models.JSONField(default=list)
    description = models.CharField(max_length=200, blank=True, default="")
    active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.TextField(blank=True, default="")
    # The first failed attempt since the last success: 24 h of failure disables the endpoint.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["project", "active"], name="webhook_endpoint_project")]

    def __str__(self) -> str:
        return f"webhook {self.pk} {self.url}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One event for one endpoint: tried until delivered, refused for good, or 24 h passed."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    # The event's id: the same for every endpoint and every redelivery, so a receiver can
    # drop duplicates (delivery is at least once).
    event_id = models.UUIDField(default=uuid.uuid4)
    event_type = models.CharField(max_length=64)
    event = models.JSONField(default=dict)  # the domain event's fields
    item_id = models.BigIntegerField(null=True, blank=True)  # deliveries per item go in order
    body = models.TextField(blank=True, default="")  # frozen at the first attempt
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    # The number of the outbox job that may make the next attempt: a job with an older number
    # (a superseded retry) does nothing; the same job run again after its worker died does.
    job_seq = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    redelivery_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()  # when the event happened
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=in_choices("state", DeliveryState), name="webhook_delivery_state_valid"
            )
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["endpoint", "item_id", "state"], name="webhook_delivery_item"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} {self.event_type} ({self.state})"


class Attempt(models.Model):
    """One POST of a delivery: what the receiver answered, or why nothing was answered."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.FloatField()
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True, default="")
    error = models.TextField(blank=True, default="")
    # what came of it: delivered, retry (at `retry_at`) or failed
    outcome = models.CharField(max_length=16)
    retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["delivery_id", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"
