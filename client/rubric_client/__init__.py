"""Python client for the Rubric API (see ``Client``) and the ``rubric`` command."""

from rubric_client.client import Client, PushResult
from rubric_client.errors import (
    AuthenticationFailed,
    BadRequest,
    ChecksumMismatch,
    Conflict,
    NotFound,
    PermissionDenied,
    RubricError,
    ServerError,
)

__all__ = [
    "AuthenticationFailed",
    "BadRequest",
    "ChecksumMismatch",
    "Client",
    "Conflict",
    "NotFound",
    "PermissionDenied",
    "PushResult",
    "RubricError",
    "ServerError",
]
