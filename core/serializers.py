"""Serializer fields every app's API bodies share."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


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
