import logging

from django.db import InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from core.errors import ApplicationError

logger = logging.getLogger(__name__)


class ApplicationErrorMiddleware:
    """A service error raised in a page view becomes a page with its 4xx status and message
    (the API turns the same errors into JSON in core.api_errors.exception_handler)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OverflowError):  # an id too large for the database: none such
            exception = ApplicationError("Not found (a number out of range).")
            exception.status_code = 404
        if not isinstance(exception, ApplicationError):
            return None
        template = "error.html#message" if getattr(request, "htmx", False) else "error.html"
        return render(
            request,
            template,
            {"status": exception.status_code, "message": exception.message},
            status=exception.status_code,
        )


# PostgreSQL trouble: a connection terminated (a database restart, a failover, an idle connection
# killed), a serialization failure or a deadlock, a lock or statement timeout. Django wraps the
# driver's errors in these two.
DATABASE_TROUBLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
UNAVAILABLE = "The database is not answering right now; try again in a few seconds."


class DatabaseTroubleMiddleware:
    """Database trouble during a request is a 503 with ``Retry-After``, never a 500.

    A request that changes nothing (GET, HEAD, OPTIONS) is retried once on a fresh connection
    first. Any other is answered 503 without a retry: its transaction was rolled back (or, when
    the connection died after the commit, the change stands), and the client sends it again; a
    submit sent again returns the annotation it made instead of a second one. The API answers
    JSON (``{"detail"}``), pages a short page that needs neither the database nor a session.

    Connections that died while idle are replaced at the start of a request by Django's
    ``CONN_HEALTH_CHECKS`` (on in the settings)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs) -> None:
        request._database_retry_view = (view_func, view_args, view_kwargs)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_TROUBLE):
            return None
        logger.warning("database trouble on %s %s: %s", request.method, request.path, exception)
        _reset_connections()
        view = getattr(request, "_database_retry_view", None)
        if request.method in SAFE_METHODS and view is not None:
            request._database_retry_view = None  # once
            view_func, view_args, view_kwargs = view
            try:
                return view_func(request, *view_args, **view_kwargs)
            except DATABASE_TROUBLE as again:
                logger.warning("database trouble again on %s: %s", request.path, again)
                _reset_connections()
        return unavailable_response(request)


def _reset_connections() -> None:
    """Drop broken connections (outside a transaction): the next query connects anew."""
    for database in connections.all(initialized_only=True):
        if not database.in_atomic_block:
            database.close()


def wants_json(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return request.path.startswith("/api/") or (
        "application/json" in accept and "text/html" not in accept
    )


def unavailable_response(request: HttpRequest) -> HttpResponse:
    if wants_json(request):
        response: HttpResponse = JsonResponse({"detail": UNAVAILABLE}, status=503)
    else:
        # Rendered without the request: no context processor may touch the database.
        body = render_to_string(
            "core/unavailable.html", {"message": UNAVAILABLE, "path": request.get_full_path()}
        )
        response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response
