"""What the webhooks app does when other apps announce events (core.events): after commit,
a delivery per endpoint that asked for the event (webhooks/services.py)."""

from core.events import subscribe
from webhooks.events import webhook_events
from webhooks.services import deliveries_record

for _kind in webhook_events:
    subscribe(_kind.source)(deliveries_record)
