"""Invitation pages: the lead's (make, list, revoke) and the invitee's (join with a new
account or the one logged in). Thin views over team.services."""

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.access import membership_get
from annotation.models import Membership, Role
from core.errors import ApplicationError
from team import selectors, services
from team.models import InvitationState

BACKEND = "django.contrib.auth.backends.ModelBackend"


class InvitationForm(forms.Form):
    how = forms.ChoiceField(
        choices=[("email", "Send by email"), ("link", "Make a link to hand out")],
        widget=forms.RadioSelect,
        initial="email",
    )
    email = forms.EmailField(required=False, label="Email address")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)
    expires_in_days = forms.IntegerField(
        min_value=1,
        max_value=services.MAX_DAYS,
        initial=services.DEFAULT_DAYS,
        label="Expires in (days)",
    )
    uses = forms.ChoiceField(
        choices=[("single", "One person"), ("multi", "Several people")],
        initial="single",
        widget=forms.RadioSelect,
        label="A link lets join",
    )
    max_uses = forms.IntegerField(
        min_value=2,
        max_value=services.MAX_USES,
        required=False,
        label="At most (empty: anyone with the link until it expires)",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("how") == "email" and not data.get("email"):
            self.add_error("email", "Give the address to send the invitation to.")
        return data

    def options(self) -> dict[str, Any]:
        data = self.cleaned_data
        by_email = data["how"] == "email"
        # A multi-use link with no number: anyone with it (None) until it expires.
        max_uses = 1 if by_email or data["uses"] == "single" else data.get("max_uses")
        return {
            "role": data["role"],
            "email": data["email"] if by_email else "",
            "expires_in_days": data["expires_in_days"],
            "max_uses": max_uses,
        }


def _lead(request: HttpRequest, project_id: int) -> Membership:
    return membership_get(user=request.user, project_id=project_id, role=Role.LEAD)


def _page(
    request: HttpRequest,
    membership: Membership,
    *,
    form: InvitationForm | None = None,
    made: services.NewInvitation | None = None,
    status: int = 200,
) -> HttpResponse:
    project = membership.project
    context = {
        "project": project,
        "membership": membership,
        "active": "members",
        "form": form or InvitationForm(),
        "pending": selectors.invitations_pending(project=project)[: selectors.LIST_LIMIT],
        "made": made,
        "made_link": request.build_absolute_uri(services.invitation_link_path(made.token))
        if made
        else "",
        "email_to_console": not services.email_configured(),
    }
    return render(request, "team/invitations.html", context, status=status)


@require_GET
@login_required
def invitations(request: HttpRequest, project_id: int) -> HttpResponse:
    return _page(request, _lead(request, project_id))


@require_POST
@login_required
def invitation_new(request: HttpRequest, project_id: int) -> HttpResponse:
    membership = _lead(request, project_id)
    form = InvitationForm(request.POST)
    if not form.is_valid():
        return _page(request, membership, form=form, status=400)
    try:
        made = services.invitation_create(
            project=membership.project,
            actor=request.user,
            link_for=lambda token: request.build_absolute_uri(services.invitation_link_path(token)),
            **form.options(),
        )
    except ApplicationError as error:
        for problem in error.extra.get("errors", []):
            field = problem["field"] if problem["field"] in form.fields else None
            form.add_error(field, problem["message"])
        return _page(request, membership, form=form, status=error.status_code)
    return _page(request, membership, made=made, status=201)


@require_POST
@login_required
def invitation_revoke(request: HttpRequest, project_id: int, invitation_id: int) -> HttpResponse:
    membership = _lead(request, project_id)
    services.invitation_revoke(
        project=membership.project, invitation_id=invitation_id, actor=request.user
    )
    messages.success(request, "Invitation revoked: its link now says so.")
    return redirect("team:invitations", project_id=project_id)


class SignUpForm(forms.Form):
    username = forms.CharField(max_length=150)
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    password_again = forms.CharField(widget=forms.PasswordInput, strip=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return data


def _gone(request: HttpRequest, state: str, status: int) -> HttpResponse:
    """An unusable invitation: a page that says which, nothing created."""
    message = services.MESSAGES.get(state, "No such invitation: check the link.")
    context = {"state": state, "message": message}
    return render(request, "team/unusable.html", context, status=status)


@require_http_methods(["GET", "POST"])
def accept(request: HttpRequest, token: str) -> HttpResponse:
    """The invitee's page: join while logged in, or make an account (or log in) and join."""
    invitation = services.invitation_find(token=token)
    if invitation is None:
        return _gone(request, "unknown", 404)
    if invitation.state != InvitationState.PENDING:
        return _gone(request, invitation.state, 410)
    form = SignUpForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        try:
            if request.user.is_authenticated:
                joined = services.invitation_accept(token=token, user=request.user)
            elif form.is_valid():
                joined = services.invitation_sign_up(
                    token=token,
                    username=form.cleaned_data["username"],
                    password=form.cleaned_data["password"],
                )
                login(request, joined.user, backend=BACKEND)
            else:
                joined = None
                status = 400
        except services.InvitationUnusable as error:
            return _gone(request, error.extra.get("state", ""), 410)
        except ApplicationError as error:
            joined = None
            status = error.status_code
            for problem in error.extra.get("errors", []):
                field = problem.get("field")
                form.add_error(field if field in form.fields else None, problem["message"])
            if not error.extra.get("errors"):
                form.add_error(None, error.message)
        if joined is not None:
            role = Role(joined.membership.role).label.lower()
            if joined.created:
                messages.success(
                    request, f"Welcome: you joined {invitation.project.name} as {role}."
                )
            else:
                messages.info(request, f"You are a member of this project already ({role}).")
            return redirect("annotation:project", project_id=invitation.project_id)
    context = {
        "invitation": invitation,
        "role": Role(invitation.role).label.lower(),
        "form": form,
        "login_url": f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': request.path})}",
    }
    return render(request, "team/accept.html", context, status=status)
