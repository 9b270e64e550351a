"""Invitations: a lead makes one (by email or as a link), revokes it; an invitee joins with it,
with a new account or the one they are logged in to.

The token is shown once (the return value of invitation_create) and stored as its SHA-256;
accepting locks the invitation row, so two people racing for the last use of a link do not
both get in.
"""

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.http import Http404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from annotation.models import Membership, Project, Role
from annotation.services import membership_set
from core.audit import audit_record
from core.errors import ApplicationError, Conflict
from core.services import user_create
from team.models import Invitation, InvitationState

logger = logging.getLogger(__name__)

MAX_DAYS = 90
DEFAULT_DAYS = 7
MAX_USES = 1000


class InvitationUnusable(ApplicationError):
    """The invitation is expired, revoked or used up: 410, and the body says which."""

    status_code = 410


MESSAGES = {
    InvitationState.EXPIRED: "This invitation has expired.",
    InvitationState.REVOKED: "This invitation was revoked by a project lead.",
    InvitationState.USED: "This invitation has been used as many times as it allows.",
}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class NewInvitation:
    invitation: Invitation
    token: str  # shown once; only its hash is stored
    emailed: bool = False


def _problem(field: str, message: str) -> ApplicationError:
    return ApplicationError(
        f"{field}: {message}", {"errors": [{"field": field, "message": message}]}
    )


def invitation_create(
    *,
    project: Project,
    actor: Any,
    role: Any,
    email: Any = "",
    expires_in_days: Any = DEFAULT_DAYS,
    max_uses: Any = 1,
    link_for: Any = None,
) -> NewInvitation:
    """An invitation to `project` as `role`. With `email`: single use, mailed through Django's
    email backend once the transaction commits (`link_for(token)` gives the absolute link).
    Without: a link for `max_uses` people (None: any number) until it expires."""
    if role not in Role.values:
        raise _problem("role", f"Must be one of: {', '.join(Role.values)}.")
    email = (email or "").strip() if isinstance(email, str) else email
    if not isinstance(email, str):
        raise _problem("email", "Must be a string.")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise _problem("email", "Not an email address.") from None
        max_uses = 1
    if isinstance(expires_in_days, bool) or not isinstance(expires_in_days, int):
        raise _problem("expires_in_days", "Must be a whole number of days.")
    if not 1 <= expires_in_days <= MAX_DAYS:
        raise _problem("expires_in_days", f"Must be from 1 to {MAX_DAYS}.")
    if max_uses is not None and (
        isinstance(max_uses, bool) or not isinstance(max_uses, int) or not 1 <= max_uses <= MAX_USES
    ):
        raise _problem("max_uses", f"Must be from 1 to {MAX_USES}, or null for any number.")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            project=project,
            role=role,
            email=email,
            token_hash=token_hash(token),
            max_uses=max_uses,
            expires_at=timezone.now() + timedelta(days=expires_in_days),
            created_by=actor,
        )
        audit_record(
            actor=actor,
            action="invitation.create",
            obj=invitation,
            project=project,
            after={
                "role": role,
                "email": email,
                "max_uses": max_uses,
                "expires_at": invitation.expires_at.isoformat(),
            },
        )
        emailed = bool(email and link_for is not None and mailer_configured())
        if emailed:
            link = link_for(token)
            transaction.on_commit(lambda: _send(invitation, link, actor))
    return NewInvitation(invitation, token, emailed=emailed)


def _send(invitation: Invitation, link: str, actor: Any) -> None:
    context = {
        "project": invitation.project,
        "role": Role(invitation.role).label,
        "link": link,
        "inviter": getattr(actor, "username", ""),
        "expires_at": invitation.expires_at,
    }
    try:
        name = " ".join(invitation.project.name.split())  # no line breaks in a header
        EmailMessage(
            subject=f"You are invited to {name}",
            body=render_to_string("team/invitation_email.txt", context),
            to=[invitation.email],
        ).send()
    except Exception:  # the invitation stands; the lead can copy the link shown once
        logger.exception("sending invitation %s failed", invitation.pk)


@transaction.atomic
def invitation_revoke(*, project: Project, invitation_id: int, actor: Any) -> Invitation:
    invitation = (
        Invitation.objects.select_for_update().filter(pk=invitation_id, project=project).first()
    )
    if invitation is None:
        raise Http404("No such invitation in this project.")
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="invitation.revoke",
            obj=invitation,
            project=project,
            after={"revoked_at": invitation.revoked_at.isoformat()},
        )
    return invitation


def invitation_find(*, token: Any) -> Invitation | None:
    """The invitation of a token, whatever its state; None for an unknown token."""
    if not isinstance(token, str) or not 10 <= len(token) <= 200:
        return None
    return Invitation.objects.select_related("project").filter(token_hash=token_hash(token)).first()


def _usable(token: Any) -> Invitation:
    """The invitation, locked; 404 unknown, 410 expired / revoked / used up (saying which)."""
    found = invitation_find(token=token)
    if found is None:
        raise ApplicationError("No such invitation: check the link.", {"state": "unknown"})
    invitation = Invitation.objects.select_for_update().select_related("project").get(pk=found.pk)
    state = invitation.state
    if state != InvitationState.PENDING:
        raise InvitationUnusable(MESSAGES[state], {"state": state})
    return invitation


@dataclass
class Joined:
    membership: Membership
    created: bool  # False: the user was a member already (their role is unchanged)
    user: Any


@transaction.atomic
def invitation_accept(*, token: Any, user: Any) -> Joined:
    """`user` (logged in) joins the invitation's project with its role. A member already keeps
    their role and uses none of the invitation."""
    invitation = _usable(token)
    existing = Membership.objects.filter(project=invitation.project, user=user).first()
    if existing is not None:
        return Joined(existing, False, user)
    membership, _ = membership_set(
        project=invitation.project, actor=user, username=user.username, role=invitation.role
    )
    invitation.uses += 1
    invitation.save(update_fields=["uses"])
    audit_record(
        actor=user,
        action="invitation.accept",
        obj=invitation,
        project=invitation.project,
        after={"user": user.username, "role": invitation.role, "uses": invitation.uses},
    )
    return Joined(membership, True, user)


@transaction.atomic
def invitation_sign_up(*, token: Any, username: Any, password: Any) -> Joined:
    """A new account with a username and password, joined to the project. Nothing is created
    when the invitation is unusable or the account would be invalid."""
    invitation = _usable(token)
    if not isinstance(password, str) or not password:
        raise _problem("password", "Required.")
    try:
        new = user_create(actor=None, username=username, password=password, email=invitation.email)
    except Conflict as error:
        raise Conflict(
            f"{error.message} Log in to it to join, or choose another username.",
            {
                "errors": [
                    {
                        "field": "username",
                        "message": "Taken: log in to it to join, or choose another username.",
                    }
                ]
            },
        ) from None
    return invitation_accept(token=token, user=new.user)


def invitation_link_path(token: str) -> str:
    return reverse("team:accept", args=[token])


def mailer_configured() -> bool:
    """Whether a mailer is set up at all (production without EMAIL_HOST has none)."""
    return "default" in getattr(settings, "MAILERS", {})


def email_configured() -> bool:
    """Whether mail leaves the server (an SMTP host is set), not the console or nowhere."""
    backend = getattr(settings, "MAILERS", {}).get("default", {}).get("BACKEND", "")
    return bool(backend) and "console" not in backend and "locmem" not in backend
