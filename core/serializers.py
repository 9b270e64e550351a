"""Serializer fields every app's API bodies share."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.models import JobStatus


class BlankAsNullField(serializers.CharField):
    """A text that is stored blank ("") when absent and shown as null."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return value or None


class IsoDateTimeField(serializers.DateTimeField):
    """A moment as `datetime.isoformat()` writes it ("+00:00", not DRF's "Z")."""

    def to_representation(self, value):
        return value.isoformat() if value else None


@extend_schema_field(OpenApiTypes.OBJECT)
class JSONObjectField(serializers.JSONField):
    """Any JSON at the field's level (a service says what is wrong with it), documented as
    the object it must be."""


def waiting_field() -> serializers.CharField:
    """Why a job (an export, a report) has not started or finished yet, from its outbox job."""
    return serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="While queued or running: why it has not started or finished yet (the task "
        "queue is unreachable: it starts by itself when the queue is back; a retry after its "
        "worker stopped). null otherwise.",
    )


class ReportJobSerializer(serializers.Serializer):
    """A report built by a worker, as a job: queued, running, done or failed."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(JobStatus.choices)
    error = BlankAsNullField(help_text="Why it failed.")
    created_at = serializers.DateTimeField()
    computed_at = serializers.DateTimeField(allow_null=True)
    waiting = waiting_field()
