"""Errors the client raises: one per kind of API answer, each carrying the API's body."""

from __future__ import annotations

from typing import Any


class RubricError(Exception):
    """An error answer from the API (4xx or 5xx) or a request that could not be made.

    ``status`` is the HTTP status (None when no answer came), ``detail`` the API's message and
    ``errors`` its per-item list (``index``, ``external_id``, ``field``, ``message`` for an
    import; ``index`` counts from the start of everything pushed, not of the batch)."""

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        errors: list[dict[str, Any]] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(detail if status is None else f"{status}: {detail}")
        self.detail = detail
        self.status = status
        self.errors = errors or []
        self.body = body


class BadRequest(RubricError):
    """400: the request is invalid (see ``errors``)."""


class AuthenticationFailed(RubricError):
    """401: no token, or an invalid, expired or revoked one."""


class PermissionDenied(RubricError):
    """403: the token's scope or the member's role does not allow this."""


class NotFound(RubricError):
    """404: no such object, or not in a project the caller is a member of."""


class Conflict(RubricError):
    """409: the object's state does not allow this now (a lost lease, an export not done)."""


class ServerError(RubricError):
    """5xx after the retries, or no answer at all."""


class ChecksumMismatch(RubricError):
    """A downloaded export's sha256 differs from its manifest's: the file is not kept."""


def error_for(status: int, body: Any) -> RubricError:
    detail = ""
    errors: list[dict[str, Any]] = []
    if isinstance(body, dict):
        detail = str(body.get("detail") or "")
        errors = body.get("errors") or []
        if not detail:
            detail = "; ".join(f"{k}: {v}" for k, v in body.items())
    elif body:
        detail = str(body)[:500]
    kind = {
        400: BadRequest,
        401: AuthenticationFailed,
        403: PermissionDenied,
        404: NotFound,
        409: Conflict,
    }.get(status, ServerError if status >= 500 else RubricError)
    return kind(detail or f"HTTP {status}", status=status, errors=errors, body=body)
