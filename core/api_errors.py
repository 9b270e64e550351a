"""API plumbing shared by every app: errors as `{"detail", "errors"?}` JSON with a 4xx status,
and how the OpenAPI schema describes them."""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError


def _flatten(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    if isinstance(detail, dict):
        out: list[dict[str, str]] = []
        for key, value in detail.items():
            path = key if key != "non_field_errors" else ""
            out.extend(_flatten(value, f"{prefix}.{path}" if prefix and path else prefix or path))
        return out
    if isinstance(detail, list):
        if all(not isinstance(v, dict | list) for v in detail):
            return [{"field": prefix, "message": str(v)} for v in detail]
        out = []
        for i, value in enumerate(detail):
            out.extend(_flatten(value, f"{prefix}[{i}]"))
        return out
    return [{"field": prefix, "message": str(detail)}]


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ApplicationError):
        body: dict[str, Any] = {"detail": exc.message, **exc.extra}
        return Response(body, status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, OverflowError):
        # An id too large for the database's integers (SQLite refuses to bind it): no such
        # object could exist.
        exc = exceptions.NotFound("Not found (a number out of range).")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        first = errors[0] if errors else {"field": "", "message": "Invalid input."}
        detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        return Response(
            {"detail": f"Invalid input. {detail}", "errors": errors},
            status=status.HTTP_400_BAD_REQUEST,
        )
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"])}
    return response


# --- the error bodies in the OpenAPI schema -------------------------------------------------------


@extend_schema_serializer(component_name="ErrorEntry")
class ErrorEntrySerializer(serializers.Serializer):
    field = serializers.CharField(
        required=False, help_text='Where: "payload.rating", "data.messages[0].role", "" ...'
    )
    message = serializers.CharField()
    index = serializers.IntegerField(
        required=False, allow_null=True, help_text="Imports: the item's position in the body."
    )
    external_id = serializers.CharField(
        required=False, allow_null=True, help_text="Imports: the item's external_id."
    )
    line = serializers.IntegerField(required=False, help_text="Imports: the line in the body.")
    column = serializers.IntegerField(required=False, help_text="Malformed JSON: the column.")


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    """Every 4xx body: `detail` says what went wrong; `errors` lists each problem where there
    are several (an invalid import lists every invalid field of every item)."""

    detail = serializers.CharField()
    errors = ErrorEntrySerializer(many=True, required=False)


ERROR_DESCRIPTIONS = {
    400: "Invalid input: `errors` lists every problem.",
    403: "A member whose role does not allow this.",
    404: "No such object, or not in a project the caller is a member of.",
    409: "The object's state does not allow this now.",
    410: "Gone: no longer usable (an invitation expired, revoked or used up; `detail` says which).",
    413: "The body is over the import limits (10,000 items, 50 MB).",
    429: "Too many failed attempts: wait `Retry-After` seconds.",
}


def error_responses(*codes: int, conflict: Any = None) -> dict[int, OpenApiResponse]:
    """The error responses of an operation, for `@extend_schema(responses=...)`: each code
    with the `Error` body, 409 with `conflict` when the conflict says more."""
    return {
        code: OpenApiResponse(
            conflict if code == 409 and conflict is not None else ErrorSerializer,
            ERROR_DESCRIPTIONS[code],
        )
        for code in codes
    }


@extend_schema_serializer(component_name="StatusConflict")
class StatusConflictSerializer(ErrorSerializer):
    """The object's status does not allow this now."""

    status = serializers.CharField(help_text="Its status now.")
