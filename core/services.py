"""Accounts: users (their API tokens are in core/tokens.py)."""

import secrets
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from core.audit import audit_record
from core.errors import ApplicationError, Conflict
from core.tokens import NewToken, token_create, token_for

__all__ = ["NewUser", "token_for", "user_create"]

User = get_user_model()


class NewUser(NamedTuple):
    user: Any
    token: NewToken  # its first API token (admin scope): the key is shown this once
    generated: str | None  # the password made up when none was given, returned this once


@transaction.atomic
def user_create(*, actor: Any, username: Any, password: Any = None, email: Any = "") -> NewUser:
    """Create a user and its API token. Without a password the account can use only its token
    (a generated password is returned once so a person can still log in)."""
    errors = []
    if not isinstance(username, str) or not username.strip():
        errors.append({"field": "username", "message": "Required."})
    elif len(username) > 150 or not all(c.isalnum() or c in "@.+-_" for c in username):
        errors.append(
            {"field": "username", "message": "At most 150 letters, digits and @ . + - _ only."}
        )
    if email and not isinstance(email, str):
        errors.append({"field": "email", "message": "Must be a string."})
    generated = None
    if password is None:
        generated = password = secrets.token_urlsafe(12)
    elif not isinstance(password, str):
        errors.append({"field": "password", "message": "Must be a string."})
    else:
        try:
            validate_password(
                password, User(username=username if isinstance(username, str) else "")
            )
        except ValidationError as exc:
            errors.extend({"field": "password", "message": m} for m in exc.messages)
    if errors:
        raise ApplicationError(f"{errors[0]['field']}: {errors[0]['message']}", {"errors": errors})
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(f"A user named {username!r} already exists.")
    user = User.objects.create_user(username=username, password=password, email=email or "")
    token = token_create(user=user, name="initial", actor=actor)
    audit_record(actor=actor, action="user.create", obj=user, after={"username": username})
    return NewUser(user, token, generated)
