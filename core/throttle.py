"""The throttle and lockout of password checks (the login page and the token endpoint).

Counted in PostgreSQL (core.models.AuthAttempt), not in the cache: it holds when Redis is down,
and the endpoints keep answering. Failures in the last WINDOW count; three rules:

* one account from one address: PER_ACCOUNT_ADDRESS failures, then that address waits;
* one address, any accounts: PER_ADDRESS failures (guessing across accounts), then it waits;
* one account, any addresses: PER_ACCOUNT failures (a distributed guess), then the account
  waits, except from an address that logged into it in the last KNOWN_DAYS days.

A lockout cannot last forever: the window slides, a refused attempt is not counted (an attacker
cannot extend it by knocking), and the account's owner, from an address that logged in before,
is not locked out by failures from elsewhere. The client's address is REMOTE_ADDR, or with
RUBRIC_TRUSTED_PROXIES = N proxies in front, the address the outermost of them saw (the N-th
entry of X-Forwarded-For from the right): never an entry the client could have written.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from core.errors import ApplicationError
from core.models import AuthAttempt

WINDOW = timedelta(minutes=15)
PER_ACCOUNT_ADDRESS = 5
PER_ADDRESS = 30
PER_ACCOUNT = 50
KNOWN_DAYS = 30
KEEP_DAYS = 30


class Throttled(ApplicationError):
    status_code = 429

    def __init__(self, wait: int) -> None:
        minutes = max(1, -(-wait // 60))
        super().__init__(
            f"Too many failed attempts: try again in {minutes} minute{'s' if minutes > 1 else ''}."
        )
        self.wait = wait


def client_address(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    proxies = int(getattr(settings, "RUBRIC_TRUSTED_PROXIES", 0))
    if proxies <= 0:
        return remote[:64]
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if not forwarded:
        return remote[:64]
    candidate = forwarded[-proxies] if len(forwarded) >= proxies else forwarded[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote[:64]


def _account(username: object) -> str:
    return str(username or "").strip().lower()[:150]


def _wait(failures: QuerySet, limit: int) -> int:
    """Seconds until fewer than `limit` of these failures are in the window (0: now)."""
    times = list(failures.order_by("-created_at").values_list("created_at", flat=True)[:limit])
    if len(times) < limit:
        return 0
    return max(1, int((times[-1] + WINDOW - timezone.now()).total_seconds()) + 1)


def check(username: object, address: str) -> None:
    """Raise Throttled when this attempt must wait (nothing is recorded then)."""
    account = _account(username)
    failures = AuthAttempt.objects.filter(succeeded=False, created_at__gte=timezone.now() - WINDOW)
    wait = max(
        _wait(failures.filter(username=account, address=address), PER_ACCOUNT_ADDRESS),
        _wait(failures.filter(address=address), PER_ADDRESS),
    )
    if not wait:
        account_wait = _wait(failures.filter(username=account), PER_ACCOUNT)
        if account_wait and not _known(account, address):
            wait = account_wait
    if wait:
        raise Throttled(wait)


def _known(account: str, address: str) -> bool:
    return AuthAttempt.objects.filter(
        username=account,
        address=address,
        succeeded=True,
        created_at__gte=timezone.now() - timedelta(days=KNOWN_DAYS),
    ).exists()


def record(username: object, address: str, *, succeeded: bool) -> None:
    AuthAttempt.objects.create(username=_account(username), address=address, succeeded=succeeded)


def prune() -> int:
    deleted, _ = AuthAttempt.objects.filter(
        created_at__lt=timezone.now() - timedelta(days=KEEP_DAYS)
    ).delete()
    return deleted
