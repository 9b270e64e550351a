"""API tokens: several named tokens per user, each with a scope and an expiry, stored hashed.

A key is ``rbc_`` and 43 random URL-safe characters. The database keeps its first
PREFIX_LENGTH characters (to find it; shown on the account page) and the SHA-256 of the whole
key, never the key: whoever reads the database cannot use a token. Keys are random enough that
a fast hash is the right one (as GitHub's tokens); the comparison is constant-time.

Scopes: ``read`` allows safe requests (GET, HEAD, OPTIONS); ``push`` adds importing items;
``annotate`` adds claiming, submitting, skipping, drafts and reviewing; ``admin`` everything the
account may do. A view says what its unsafe methods need with ``token_scope`` (``admin`` when it
says nothing); sessions (the browser) are not limited by scopes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission

from core.audit import audit_record
from core.db import model_columns, model_instances, read_one
from core.errors import ApplicationError, Conflict
from core.models import ApiToken, TokenScope

PREFIX_LENGTH = 16
KEY_START = "rbc_"
MAX_ACTIVE_TOKENS = 100  # per user
MAX_DAYS = 3650
DEFAULT_DAYS = 90  # tokens from the token endpoint, unless asked otherwise
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often

# What each scope allows besides reading.
ALLOWS = {
    TokenScope.READ: {TokenScope.READ},
    TokenScope.PUSH: {TokenScope.READ, TokenScope.PUSH},
    TokenScope.ANNOTATE: {TokenScope.READ, TokenScope.ANNOTATE},
    TokenScope.ADMIN: set(TokenScope),
}


def digest_of(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class NewToken:
    """A token just made: the key is here this once (the database keeps its hash)."""

    token: ApiToken
    key: str

    @property
    def name(self) -> str:
        return self.token.name

    @property
    def scope(self) -> str:
        return self.token.scope

    @property
    def expires_at(self) -> Any:
        return self.token.expires_at


def _errors(name: Any, scope: Any, days: Any) -> list[dict[str, str]]:
    errors = []
    if not isinstance(name, str) or not name.strip() or len(name) > 100 or "\x00" in name:
        errors.append({"field": "name", "message": "A name of 1 to 100 characters."})
    if scope not in TokenScope.values:
        errors.append({"field": "scope", "message": f"One of {', '.join(TokenScope.values)}."})
    if days is not None and (
        isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS
    ):
        errors.append(
            {"field": "expires_in_days", "message": f"A whole number of days, 1 to {MAX_DAYS}."}
        )
    return errors


@transaction.atomic
def token_create(
    *,
    user: Any,
    name: Any = "api",
    scope: Any = TokenScope.ADMIN,
    expires_in_days: Any = None,
    actor: Any = None,
) -> NewToken:
    """A new token of the user (``expires_in_days`` None: it does not expire)."""
    errors = _errors(name, scope, expires_in_days)
    if errors:
        raise ApplicationError(f"{errors[0]['field']}: {errors[0]['message']}", {"errors": errors})
    now = timezone.now()
    active = ApiToken.objects.filter(user=user, revoked_at__isnull=True).exclude(
        expires_at__lte=now
    )
    if active.count() >= MAX_ACTIVE_TOKENS:
        raise Conflict(
            f"This account has {MAX_ACTIVE_TOKENS} active tokens; revoke some on the account "
            "page first."
        )
    expires_at = now + timedelta(days=expires_in_days) if expires_in_days else None
    for _ in range(5):
        key = KEY_START + secrets.token_urlsafe(32)
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user,
                    name=name.strip(),
                    prefix=key[:PREFIX_LENGTH],
                    digest=digest_of(key),
                    scope=scope,
                    expires_at=expires_at,
                )
            break
        except IntegrityError:  # the prefix is taken: draw again
            continue
    else:  # pragma: no cover (5 collisions of 72 random bits)
        raise Conflict("Could not make a token; try again.")
    audit_record(
        actor=actor or user,
        action="token.create",
        obj=user,
        after={"name": token.name, "prefix": token.prefix, "scope": token.scope},
    )
    return NewToken(token, key)


def token_for(*, user: Any, scope: str = TokenScope.ADMIN, name: str = "api") -> NewToken:
    """A new, usable token of the user (its plain key in ``.key``): for scripts, the demo and
    tests. Each call makes another token."""
    return token_create(user=user, name=name, scope=scope)


@transaction.atomic
def token_revoke(*, user: Any, token_id: Any) -> ApiToken:
    token = ApiToken.objects.select_for_update().filter(pk=token_id, user=user).first()
    if token is None:
        raise ApplicationError("No such token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(actor=user, action="token.revoke", obj=user, after={"prefix": token.prefix})
    return token


def token_list(*, user: Any) -> list[ApiToken]:
    return list(ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by("-id"))


@cache
def _token_sql() -> str:
    users = get_user_model()
    return f"""
    SELECT {model_columns(ApiToken, "t")}, {model_columns(users, "u")}
    FROM {ApiToken._meta.db_table} t
    JOIN {users._meta.db_table} u ON u.{users._meta.pk.column} = t.user_id
    WHERE t.prefix = %s AND t.revoked_at IS NULL
    ORDER BY t.id LIMIT 1
    """  # noqa: S608 (no user input: names of tables and columns)


def token_authenticate(key: str) -> ApiToken | None:
    """The active token whose key this is, or None. Every API request runs this: one
    hand-written read instead of the ORM's select_related, whose building cost more than the
    query."""
    if len(key) < PREFIX_LENGTH + 8 or len(key) > 200:
        return None
    row = read_one(_token_sql(), [key[:PREFIX_LENGTH]])
    if row is None:
        return None
    token, user = model_instances(row, ApiToken, get_user_model())
    token.user = user
    if not hmac.compare_digest(token.digest, digest_of(key)):
        return None
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Token <key>``."""

    keyword = "Token"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header.")
        try:
            key = parts[1].decode("ascii")
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = token_authenticate(key)
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the token header."""

    target_class = "core.tokens.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization",
            token_prefix="Token",  # noqa: S106 (a keyword)
        )


def required_scope(request: Any, view: Any) -> str:
    if request.method in SAFE_METHODS:
        return TokenScope.READ
    return getattr(view, "token_scope", TokenScope.ADMIN)


class TokenScopePermission(BasePermission):
    """A request with a token is allowed what the token's scope allows (sessions: no limit)."""

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        needed = required_scope(request, view)
        if needed in ALLOWS[TokenScope(token.scope)]:
            return True
        self.message = (
            f"This token's scope ({token.scope}) does not allow this; it needs a token with the "
            f"{needed} or admin scope."
        )
        return False
