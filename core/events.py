"""Domain events: an app announces what happened; other apps subscribe.

Calls run downhill (core <- annotation <- review <- agreement, exports, console): a lower app
never imports a higher one, so when something in `annotation` must set off work in `review`
(an item got its last annotation) or `agreement` (a report is due), `annotation` announces an
event and those apps subscribe to it. The event types live in the app that announces them
(`annotation/events.py`, ...); this module only delivers.

Delivery is in one of two moments, chosen by the subscriber:
* after the transaction commits (the default, as Zulip's `send_event_on_commit`): work that
  must see committed rows or may fail on its own (scheduling a report, a webhook). A failing
  subscriber is logged and does not undo what was announced;
* inside the announcing transaction (`in_transaction=True`): state that must change with the
  change it follows or not at all (routing an item to review when its last annotation lands).
  An error there rolls the whole transaction back.

An after-commit subscriber may take its events in batches (`batch=True`): it is called with
the list of the events one transaction announced, once, instead of once per event (an import
that auto-accepts 10,000 items announces 10,000 approvals; the webhooks app then looks for the
project's endpoints once, not 10,000 times). Events announced inside a savepoint join a batch
only with events of the same savepoint, so a savepoint rolled back takes its events with it.

Subscribers register when their app is ready (`AppConfig.ready` imports its `subscribers.py`).
"""

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from django.db import transaction

from core.registry import Registry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Something that happened in a project. Subclasses are frozen dataclasses of plain values
    (ids, names, numbers), so an event can be logged and sent as JSON."""

    type: ClassVar[str]
    project_id: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


event_types: Registry[type[Event]] = Registry("event type")

Subscriber = Callable[[Any], Any]
_subscribers: dict[str, list[tuple[Subscriber, bool, bool]]] = defaultdict(list)


def event_type[E: type[Event]](cls: E) -> E:
    """Class decorator: register an event type under its `type` name."""
    event_types.register(cls.type)(cls)
    return cls


def subscribe(
    event: type[Event], *, in_transaction: bool = False, batch: bool = False
) -> Callable[[Subscriber], Subscriber]:
    """Decorator: call the function with each announced event of this type, or with the list
    of a transaction's events of the types it subscribed to with `batch=True` (see the
    module's docstring for the two moments). Registering the same function twice is a no-op."""
    if in_transaction and batch:
        raise ValueError("batches are delivered after commit: in_transaction and batch exclude")

    def add(function: Subscriber) -> Subscriber:
        entry = (function, in_transaction, batch)
        if entry not in _subscribers[event.type]:
            _subscribers[event.type].append(entry)
        return function

    return add


def announce(event: Event) -> None:
    """Deliver an event: now to in-transaction subscribers, after commit to the others."""
    for function, in_transaction, batch in _subscribers.get(event.type, ()):
        if in_transaction:
            function(event)
        elif batch:
            _gather(function, event)
        else:
            transaction.on_commit(partial(_deliver, function, event))


def _deliver(function: Subscriber, event: Event) -> None:
    try:
        function(event)
    except Exception:
        logger.exception("subscriber %s failed on %s", function.__qualname__, event)


class _Batch:
    """One after-commit call of a batch subscriber with the events gathered for it; ``queue``
    and ``savepoints``: the connection's list of on_commit callbacks it went into and the
    savepoints open then."""

    def __init__(self, function: Subscriber, event: Event, queue: list, savepoints: set) -> None:
        self.function = function
        self.events = [event]
        self.queue, self.savepoints = queue, savepoints

    def __call__(self) -> None:
        # Handed over, not kept: the connection remembers its last batch until the next one.
        events, self.events = self.events, []
        try:
            self.function(events)
        except Exception:
            logger.exception(
                "subscriber %s failed on %d events", self.function.__qualname__, len(events)
            )


def _gather(function: Subscriber, event: Event) -> None:
    """Add the event to the function's last batch while that one is still waiting in this
    transaction with the same savepoints open, else to a new one. Outside a transaction the
    batch of one is delivered now.

    Django keeps each on_commit callback with the savepoints open when it was registered and
    drops it when any of them rolls back; it only ever appends to the list of callbacks in
    place, and replaces the list whenever it drops or runs some (a savepoint rolled back, the
    transaction committed or rolled back). So a batch whose list is still the connection's,
    registered with the same savepoints, is still waiting: the events a rolled-back savepoint
    announced go with it, and the check costs nothing however many callbacks there are."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        _Batch(function, event, [], set())()
        return
    savepoints = set(connection.savepoint_ids)
    last: dict[Subscriber, _Batch] = connection.__dict__.setdefault("_event_batches", {})
    batch = last.get(function)
    waiting = batch is not None and batch.queue is connection.run_on_commit
    if waiting and batch.savepoints == savepoints:
        batch.events.append(event)
        return
    batch = _Batch(function, event, connection.run_on_commit, savepoints)
    transaction.on_commit(batch)
    last[function] = batch


def subscribers(event: type[Event]) -> list[Subscriber]:
    return [function for function, _, _ in _subscribers.get(event.type, ())]
