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
_subscribers: dict[str, list[tuple[Subscriber, bool]]] = defaultdict(list)


def event_type[E: type[Event]](cls: E) -> E:
    """Class decorator: register an event type under its `type` name."""
    event_types.register(cls.type)(cls)
    return cls


def subscribe(
    event: type[Event], *, in_transaction: bool = False
) -> Callable[[Subscriber], Subscriber]:
    """Decorator: call the function with each announced event of this type (see the module's
    docstring for the two moments). Registering the same function twice is a no-op."""

    def add(function: Subscriber) -> Subscriber:
        entry = (function, in_transaction)
        if entry not in _subscribers[event.type]:
            _subscribers[event.type].append(entry)
        return function

    return add


def announce(event: Event) -> None:
    """Deliver an event: now to in-transaction subscribers, after commit to the others."""
    for function, in_transaction in _subscribers.get(event.type, ()):
        if in_transaction:
            function(event)
        else:
            transaction.on_commit(partial(_deliver, function, event))


def _deliver(function: Subscriber, event: Event) -> None:
    try:
        function(event)
    except Exception:
        logger.exception("subscriber %s failed on %s", function.__qualname__, event)


def subscribers(event: type[Event]) -> list[Subscriber]:
    return [function for function, _ in _subscribers.get(event.type, ())]
