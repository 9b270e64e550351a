"""Account pages: the API token and its rotation (login and logout are Django's)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.services import token_for, token_rotate


@require_GET
@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "core/account.html", {"token": token_for(user=request.user).key})


@require_POST
@login_required
def account_token_rotate(request: HttpRequest) -> HttpResponse:
    token = token_rotate(user=request.user)
    if not request.htmx:
        return redirect("account")
    return render(request, "core/account.html#token", {"token": token.key, "rotated": True})
