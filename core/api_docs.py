"""The API's browsable docs (Swagger UI and Redoc), served from the project alone.

The sidecar package serves both bundles; Redoc's page template would link Google Fonts, so it
is replaced (`templates/core/redoc.html`), and Redoc's sidebar draws the Redocly logo from
cdn.redoc.ly with no option to turn it off, so both pages carry a Content-Security-Policy
that allows nothing from another origin: the browser never asks a CDN for anything (the
logo's `onerror` removes the image)."""

from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        # Both pages start their bundle with an inline script; both bundles inject styles.
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        # Redoc's search runs in a worker built from a blob.
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'self'",
    ]
)


class _SameOriginOnly:
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response


class SwaggerView(_SameOriginOnly, SpectacularSwaggerView):
    pass


class RedocView(_SameOriginOnly, SpectacularRedocView):
    template_name = "core/redoc.html"
