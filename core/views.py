"""Account pages: log in (throttled), and the API tokens (logout is Django's)."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views import defaults
from django.views.decorators.http import require_GET, require_POST

from core import throttle
from core.errors import ApplicationError
from core.models import TokenScope
from core.tokens import token_create, token_list, token_revoke

EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "never")]


class LoginView(auth_views.LoginView):
    """Django's login (it rotates the session key), throttled per account and address
    (core/throttle.py): 429 with Retry-After while an attempt must wait."""

    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")
        address = throttle.client_address(request)
        try:
            throttle.check(username, address)
        except throttle.Throttled as exc:
            context = self.get_context_data(form=self.get_form(), throttled=exc.message)
            response = self.render_to_response(context, status=429)
            response["Retry-After"] = str(exc.wait)
            return response
        response = super().post(request, *args, **kwargs)
        throttle.record(username, address, succeeded=response.status_code == 302)
        return response


def _account_context(request: HttpRequest, **extra) -> dict:
    return {
        "tokens": token_list(user=request.user),
        "scopes": TokenScope.choices,
        "expiry_choices": EXPIRY_CHOICES,
        **extra,
    }


@require_GET
@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "core/account.html", _account_context(request))


@require_POST
@login_required
def account_token_create(request: HttpRequest) -> HttpResponse:
    days = request.POST.get("expires_in_days", "")
    try:
        created = token_create(
            user=request.user,
            name=request.POST.get("name", ""),
            scope=request.POST.get("scope", ""),
            expires_in_days=int(days) if days.isdigit() else None,
        )
    except ApplicationError as exc:
        context = _account_context(request, error=exc.message)
        template = "core/account.html#tokens" if request.htmx else "core/account.html"
        return render(request, template, context, status=exc.status_code)
    context = _account_context(request, created=created)
    template = "core/account.html#tokens" if request.htmx else "core/account.html"
    return render(request, template, context)


@require_POST
@login_required
def account_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token_revoke(user=request.user, token_id=token_id)
    if not request.htmx:
        return redirect("account")
    return render(request, "core/account.html#tokens", _account_context(request, revoked=True))


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404 for a URL no route matches: JSON under /api/ (as every API error), else the page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)
