"""What the webhooks app does when other apps announce events (core.events): after commit,
a delivery per endpoint that asked for the event (webhooks/services.py), taking a
transaction's events as one batch."""

from core.events import subscribe
from webhooks.events import webhook_events
from webhooks.services import deliveries_record

for _kind in webhook_events:
    subscribe(_kind.source, batch=True)(deliveries_record)
