from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.errors import ApplicationError


class ApplicationErrorMiddleware:
    """A service error raised in a page view becomes a page with its 4xx status and message
    (the API turns the same errors into JSON in core.api_errors.exception_handler)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, ApplicationError):
            return None
        template = "error.html#message" if getattr(request, "htmx", False) else "error.html"
        return render(
            request,
            template,
            {"status": exception.status_code, "message": exception.message},
            status=exception.status_code,
        )
