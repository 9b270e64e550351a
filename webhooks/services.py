"""Webhook endpoints (registered by a lead) and the delivery of events to them.

Delivery, at least once:
* after the announcing transaction commits, the subscriber records one `Delivery` per endpoint
  that asked for the event type, and an outbox job for each (core/outbox.py): nothing on the
  request's path waits for the broker or the receiver;
* a worker runs the job: one signed POST (webhooks/sender.py), at most
  ``WEBHOOKS_TIMEOUT_SECONDS``, to an address resolved and checked then (webhooks/guard.py);
* a 2xx delivers it; an address the guard refuses at delivery fails it (nothing is sent). A
  network error, a timeout or a 5xx is retried with exponential backoff and jitter
  (``WEBHOOKS_RETRY_BASE_SECONDS`` doubling up to ``WEBHOOKS_RETRY_MAX_SECONDS``)
  for ``WEBHOOKS_RETRY_WINDOW_SECONDS`` (24 h) from the event; a 408 or 429 is retried after
  its ``Retry-After`` when it gives one; any other answer (a 3xx: redirects are not followed,
  a 4xx) fails the delivery at once;
* an endpoint whose attempts all failed for ``WEBHOOKS_DISABLE_AFTER_SECONDS`` (24 h) is
  disabled, with the reason, and its page says so until the lead turns it on again;
* deliveries of one endpoint about one item are sent in the order of their events: a later one
  waits while an earlier one is still pending.

A worker killed mid-POST leaves the outbox job running without a heartbeat: the sweeper hands
it back and the delivery is attempted again (the receiver deduplicates by the event id).
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import time
import uuid
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from annotation.models import Project
from core import outbox
from core.audit import audit_record
from core.db import column_values, execute, member_of
from core.errors import ApplicationError, Conflict
from core.events import Event
from webhooks import guard, sender
from webhooks.events import EVENT_NAMES, webhook_events
from webhooks.models import Attempt, Delivery, DeliveryState, Endpoint

logger = logging.getLogger(__name__)

DELIVER_TASK = "webhooks.deliver"
ORDER_WAIT_SECONDS = 2  # a delivery behind an earlier one of the same item looks again after
MAX_ENDPOINTS = 20  # per project


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def retry_window() -> timedelta:
    return timedelta(seconds=_setting("WEBHOOKS_RETRY_WINDOW_SECONDS", 86_400))


def disable_after() -> timedelta:
    return timedelta(seconds=_setting("WEBHOOKS_DISABLE_AFTER_SECONDS", 86_400))


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with jitter: base * 2^(attempt-1), capped, then a random share of
    it between a half and the whole (so endpoints that fail together do not retry together)."""
    base = _setting("WEBHOOKS_RETRY_BASE_SECONDS", 10)
    cap = _setting("WEBHOOKS_RETRY_MAX_SECONDS", 3_600)
    delay = min(base * 2 ** max(attempt - 1, 0), cap)
    return delay * random.uniform(0.5, 1.0)


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """A ``Retry-After`` header's wait in seconds (delta seconds or an HTTP date), else None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = timezone.make_aware(when, timezone.utc)
    return max((when - now).total_seconds(), 0.0)


# --- endpoints ---------------------------------------------------------------------------------


def _clean_events(events: Any) -> list[str]:
    if not isinstance(events, list) or not events:
        raise ApplicationError(
            "Choose at least one event.",
            {"errors": [{"field": "events", "message": f"A list of {', '.join(EVENT_NAMES)}."}]},
        )
    unknown = [e for e in events if e not in webhook_events]
    if unknown:
        raise ApplicationError(
            f"Unknown event {unknown[0]!r}.",
            {"errors": [{"field": "events", "message": f"One of {', '.join(EVENT_NAMES)}."}]},
        )
    return [name for name in EVENT_NAMES if name in events]


def _check_url(url: str) -> str:
    try:
        guard.check(url)
    except guard.UnsafeURL as exc:
        raise ApplicationError(
            exc.message, {"errors": [{"field": "url", "message": exc.message}]}
        ) from None
    return url.strip()


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def endpoint_create(
    *, project: Project, actor: Any, url: str, events: Any, description: str = ""
) -> Endpoint:
    """Register an endpoint; the returned object carries the secret (shown to the lead once)."""
    events = _clean_events(events)
    url = _check_url(url)
    with transaction.atomic():
        Project.objects.select_for_update().get(pk=project.pk)
        if Endpoint.objects.filter(project=project).count() >= MAX_ENDPOINTS:
            raise ApplicationError(f"A project has at most {MAX_ENDPOINTS} webhook endpoints.")
        endpoint = Endpoint.objects.create(
            project=project,
            url=url,
            events=events,
            description=description[:200],
            secret=new_secret(),
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_record(
            actor=actor,
            action="webhook.create",
            obj=endpoint,
            project=project,
            after={"url": url, "events": events},
        )
    return endpoint


def endpoint_update(*, endpoint: Endpoint, actor: Any, **changes: Any) -> Endpoint:
    """Change the URL, events, description, or turn the endpoint on or off. Turning a disabled
    endpoint on clears the reason and starts its 24 h of failure anew."""
    fields: dict[str, Any] = {}
    if "url" in changes and changes["url"] != endpoint.url:
        fields["url"] = _check_url(changes["url"])
    if "events" in changes:
        fields["events"] = _clean_events(changes["events"])
    if "description" in changes:
        fields["description"] = (changes["description"] or "")[:200]
    if "active" in changes and bool(changes["active"]) != endpoint.active:
        fields["active"] = bool(changes["active"])
        if fields["active"]:
            fields.update(disabled_at=None, disabled_reason="", failing_since=None)
        else:
            fields.update(disabled_at=timezone.now(), disabled_reason="Turned off by a lead.")
    if not fields:
        return endpoint
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = {k: getattr(locked, k) for k in fields if k in ("url", "events", "active")}
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save(update_fields=list(fields))
        if fields.get("active") is False:
            _fail_pending(locked, "The endpoint was turned off.")
        audit_record(
            actor=actor,
            action="webhook.update",
            obj=locked,
            project=locked.project,
            before=before,
            after={k: fields[k] for k in before},
        )
    return locked


def endpoint_delete(*, endpoint: Endpoint, actor: Any) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="webhook.delete",
            obj=endpoint,
            project=endpoint.project,
            before={"url": endpoint.url, "events": endpoint.events},
        )
        endpoint.delete()


def _fail_pending(endpoint: Endpoint, reason: str) -> int:
    return Delivery.objects.filter(endpoint=endpoint, state=DeliveryState.PENDING).update(
        state=DeliveryState.FAILED, error=reason, finished_at=timezone.now()
    )


# --- recording deliveries ----------------------------------------------------------------------


def _active_endpoints(project_ids: set[int]) -> list[list]:
    """(id, project id, event types) of the projects' active endpoints. Every submit asks
    (mostly of a project without any): a hand-written read, a fifth of the ORM's cost."""
    fields = [Endpoint._meta.get_field(name) for name in ("id", "project", "events")]
    columns = ", ".join(field.column for field in fields)
    where, params = member_of("project_id", sorted(project_ids))
    sql = f"SELECT {columns} FROM {Endpoint._meta.db_table} WHERE active AND {where}"  # noqa: S608 (names of ours)
    with execute(sql, params) as cursor:
        return [column_values(row, fields) for row in cursor.fetchall()]


def deliveries_record(events: list[Event]) -> list[Delivery]:
    """After commit of the announcing transaction (a batch subscriber: core.events): a
    delivery (and its outbox job) per event and per active endpoint of its project that asked
    for its type. One indexed read of the endpoints for the whole batch, whatever its size
    (an import that auto-accepts 10,000 items announces 10,000 approvals)."""
    endpoints: dict[int, list[tuple[int, list[str]]]] = {}
    for pk, project_id, wanted_events in _active_endpoints({e.project_id for e in events}):
        endpoints.setdefault(project_id, []).append((pk, wanted_events))
    if not endpoints:
        return []
    now = timezone.now()
    deliveries = []
    for event in events:
        name = event.type
        wanted = [pk for pk, types in endpoints.get(event.project_id, ()) if name in types]
        if not wanted:
            continue
        kind = webhook_events.get(name)
        fields = event.as_dict()
        item_id = fields.get(kind.item_field) if kind.item_field else None
        event_id = uuid.uuid4()
        deliveries += [
            Delivery(
                endpoint_id=pk,
                event_id=event_id,
                event_type=name,
                event=fields,
                item_id=item_id,
                next_attempt_at=now,
                created_at=now,
            )
            for pk in wanted
        ]
    if not deliveries:
        return []
    own_transaction = not connection.in_atomic_block
    with transaction.atomic():
        if own_transaction and connection.vendor == "postgresql":
            # The request that announced the events waits for this (it runs after its commit):
            # without the WAL flush the recording costs it well under a millisecond instead of a
            # second flush (9 ms on a loaded disk, bench/webhooks.py). Losing these rows to a
            # database crash in the next fraction of a second is the window the request's own
            # process dying after its commit already has: recording is after commit either way.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        deliveries = Delivery.objects.bulk_create(deliveries, batch_size=1_000)
        for delivery in deliveries:
            outbox.enqueue(DELIVER_TASK, delivery_id=delivery.pk, seq=0)
    return deliveries


def delivery_redeliver(*, delivery: Delivery, actor: Any) -> Delivery:
    """Send a delivery's event again (the same event id and body, signed anew) as a new
    delivery in the log."""
    endpoint = delivery.endpoint
    if not endpoint.active:
        raise Conflict("The endpoint is disabled: turn it on before redelivering.")
    now = timezone.now()
    with transaction.atomic():
        again = Delivery.objects.create(
            endpoint=endpoint,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            event=delivery.event,
            item_id=None,  # a redelivery is asked for by hand: it waits for nothing
            body=delivery.body,
            next_attempt_at=now,
            created_at=now,
            redelivery_of=delivery,
        )
        audit_record(
            actor=actor,
            action="webhook.redeliver",
            obj=again,
            project=endpoint.project,
            after={"of": delivery.pk, "event_id": str(delivery.event_id)},
        )
        outbox.enqueue(DELIVER_TASK, delivery_id=again.pk, seq=0)
    return again


# --- attempts ----------------------------------------------------------------------------------


def body_for(delivery: Delivery) -> str:
    """The JSON body: ``{id, type, created, project, data}``."""
    kind = webhook_events.get(delivery.event_type)
    document = {
        "id": str(delivery.event_id),
        "type": delivery.event_type,
        "created": delivery.created_at.isoformat().replace("+00:00", "Z"),
        "project": delivery.endpoint.project_id,
        "data": kind.data(delivery.event),
    }
    return json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def _schedule(delivery: Delivery, *, delay: float) -> None:
    """Set the next attempt ``delay`` seconds from now, by a new outbox job (in the caller's
    transaction); earlier jobs of the delivery then do nothing."""
    delivery.job_seq += 1
    delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    outbox.enqueue(DELIVER_TASK, delivery_id=delivery.pk, seq=delivery.job_seq, delay=delay)


def _claim(delivery_id: int, seq: int) -> tuple[Delivery, int] | None:
    """Take the delivery for one attempt: None when there is nothing to do (delivered, failed,
    a superseded job, or waiting behind an earlier delivery of the same item)."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.state != DeliveryState.PENDING:
            return None
        if delivery.job_seq != seq:
            return None
        if not delivery.endpoint.active:
            delivery.state, delivery.finished_at = DeliveryState.FAILED, now
            delivery.error = "The endpoint is disabled."
            delivery.save(update_fields=["state", "finished_at", "error"])
            return None
        earlier = (
            Delivery.objects.filter(
                endpoint_id=delivery.endpoint_id,
                item_id=delivery.item_id,
                state=DeliveryState.PENDING,
                pk__lt=delivery.pk,
            )
            .order_by("next_attempt_at")
            .values_list("next_attempt_at", flat=True)
            .first()
            if delivery.item_id is not None
            else None
        )
        if earlier is not None:
            # Look again just after the earlier one's next attempt (not every few seconds
            # through a day of its retries).
            wait = max((earlier - now).total_seconds(), 0) + ORDER_WAIT_SECONDS
            _schedule(delivery, delay=wait)
            delivery.save(update_fields=["job_seq", "next_attempt_at"])
            return None
        if not delivery.body:
            delivery.body = body_for(delivery)
        delivery.attempts += 1
        delivery.save(update_fields=["body", "attempts"])
        return delivery, delivery.attempts


def _headers(delivery: Delivery, body: bytes) -> dict[str, str]:
    timestamp = int(time.time())
    return {
        "Rubric-Event": delivery.event_type,
        "Rubric-Delivery": str(delivery.event_id),
        "Rubric-Timestamp": str(timestamp),
        "Rubric-Signature": sender.signature(delivery.endpoint.secret, timestamp, body),
    }


def delivery_attempt(*, delivery_id: int, seq: int = 0) -> Delivery | None:
    """One attempt of a delivery (the worker's job); records it and decides what follows."""
    claimed = _claim(delivery_id, seq)
    if claimed is None:
        return None
    delivery, number = claimed
    body = delivery.body.encode()
    started = timezone.now()
    answer = sender.post(delivery.endpoint.url, body=body, headers=_headers(delivery, body))
    _record(delivery.pk, number, started, answer)
    return Delivery.objects.get(pk=delivery.pk)


def _outcome(answer: sender.Answer, *, now: datetime) -> tuple[str, float | None, str]:
    """(delivered | retry | failed, the wait before a retry if the receiver set one, error)."""
    status = answer.status
    if answer.refused:
        return "failed", None, answer.error
    if status is None:
        return "retry", None, answer.error
    if 200 <= status < 300:
        return "delivered", None, ""
    if status in (408, 429):
        wait = retry_after_seconds(answer.headers.get("retry-after"), now=now)
        return "retry", wait, f"The receiver answered {status}."
    if status >= 500:
        return "retry", None, f"The receiver answered {status}."
    if 300 <= status < 400:
        return "failed", None, f"The receiver answered {status} (redirects are not followed)."
    return "failed", None, f"The receiver answered {status}: not retried."


def _record(delivery_id: int, number: int, started: datetime, answer: sender.Answer) -> None:
    now = timezone.now()
    outcome, wait, error = _outcome(answer, now=now)
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .get(pk=delivery_id)
        )
        endpoint = Endpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
        retry_at = None
        if outcome == "retry":
            delay = wait if wait is not None else backoff_seconds(number)
            retry_at = now + timedelta(seconds=delay)
            if retry_at - delivery.created_at > retry_window():
                outcome = "failed"
                error = f"{error} Gave up after {number} attempts over {_hours(retry_window())}."
                retry_at = None
        Attempt.objects.create(
            delivery=delivery,
            number=number,
            started_at=started,
            duration_ms=answer.duration_ms,
            response_code=answer.status,
            response_excerpt=answer.excerpt,
            error=error,
            outcome=outcome,
            retry_at=retry_at,
        )
        delivery.response_code, delivery.duration_ms, delivery.error = (
            answer.status,
            answer.duration_ms,
            error,
        )
        if delivery.state == DeliveryState.PENDING:  # not failed meanwhile (endpoint turned off)
            if outcome == "delivered":
                delivery.state, delivery.finished_at = DeliveryState.DELIVERED, now
            elif outcome == "failed":
                delivery.state, delivery.finished_at = DeliveryState.FAILED, now
            else:
                _schedule(delivery, delay=(retry_at - now).total_seconds())
        delivery.save(
            update_fields=[
                "response_code",
                "duration_ms",
                "error",
                "state",
                "finished_at",
                "next_attempt_at",
                "job_seq",
            ]
        )
        _endpoint_health(endpoint, delivered=outcome == "delivered", now=now, error=error)


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:g} h" if hours >= 1 else f"{span.total_seconds():g} s"


def _endpoint_health(endpoint: Endpoint, *, delivered: bool, now: datetime, error: str) -> None:
    if delivered:
        if endpoint.failing_since is not None:
            endpoint.failing_since = None
            endpoint.save(update_fields=["failing_since"])
        return
    if endpoint.failing_since is None:
        endpoint.failing_since = now
        endpoint.save(update_fields=["failing_since"])
        return
    if endpoint.active and now - endpoint.failing_since >= disable_after():
        endpoint.active, endpoint.disabled_at = False, now
        endpoint.disabled_reason = (
            f"Disabled: every delivery failed for {_hours(disable_after())} "
            f"(since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC; the last: {error}). "
            "Fix the receiver, then turn the endpoint on again and redeliver what it missed."
        )[:2000]
        endpoint.save(update_fields=["active", "disabled_at", "disabled_reason"])
        _fail_pending(endpoint, "The endpoint was disabled after 24 h of failures.")
        audit_record(
            actor=None,
            action="webhook.disable",
            obj=endpoint,
            project=endpoint.project,
            after={"reason": endpoint.disabled_reason},
        )


def delivery_give_up(reason: str, *, delivery_id: int) -> None:
    """The outbox gave up on the job (its worker kept dying): the delivery fails with it."""
    Delivery.objects.filter(pk=delivery_id, state=DeliveryState.PENDING).update(
        state=DeliveryState.FAILED, error=reason[:2000], finished_at=timezone.now()
    )


PRUNE_BATCH = 1_000


def deliveries_prune(*, days: float | None = None) -> int:
    """Delete the deliveries (and their attempt logs) that ended, delivered or failed, more
    than ``days`` ago (setting WEBHOOKS_DELIVERIES_KEPT_DAYS, default 30); pending ones stay,
    whatever their age. Returns how many were deleted. A receiver deduplicates by event id
    within its own window; the log is for a lead reading what happened lately."""
    days = settings.WEBHOOKS_DELIVERIES_KEPT_DAYS if days is None else days
    before = timezone.now() - timedelta(days=days)
    ended = Delivery.objects.filter(
        state__in=[DeliveryState.DELIVERED, DeliveryState.FAILED], finished_at__lt=before
    ).order_by()
    deleted = 0
    while ids := list(ended.values_list("pk", flat=True)[:PRUNE_BATCH]):
        with transaction.atomic():
            Attempt.objects.filter(delivery_id__in=ids).delete()
            deleted += Delivery.objects.filter(pk__in=ids).delete()[1].get(Delivery._meta.label, 0)
    if deleted:
        logger.info("pruned %s webhook deliveries that ended over %s days ago", deleted, days)
    return deleted
