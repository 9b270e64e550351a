"""The event types a webhook may ask for, behind a registry (as item kinds and export formats).

Each names the domain event it follows (announced by a lower app, see core.events), says what
it means, and builds the body's ``data`` when the delivery is first attempted: the object as the
API shows it (the final record of an approval, the export job, the agreement report's job).
The subscribers (webhooks/subscribers.py) subscribe to every source event listed here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agreement.events import AgreementFinished
from agreement.models import AgreementReport
from annotation.events import AnnotationSubmitted, ItemStalled
from annotation.models import Annotation, Item
from core.events import Event
from core.registry import Registry
from exports.events import ExportFinished
from exports.models import ExportJob
from review.events import ItemApproved, ItemRejected, ItemReopened
from review.models import FinalRecord, Review


@dataclass(frozen=True)
class WebhookEventType:
    name: str
    source: type[Event]
    description: str
    data: Callable[[dict[str, Any]], dict[str, Any]]  # the event's fields -> the body's data
    item_field: str | None = "item_id"  # deliveries for one item are sent in order


webhook_events: Registry[WebhookEventType] = Registry("webhook event type")


def _register(entry: WebhookEventType) -> None:
    webhook_events.register(entry.name)(entry)


def _item(item_id: int) -> dict[str, Any] | None:
    item = (
        Item.objects.filter(pk=item_id)
        .only("id", "external_id", "kind", "split", "status", "round")
        .first()
    )
    if item is None:
        return None
    return {
        "id": item.pk,
        "external_id": item.external_id,
        "kind": item.kind,
        "split": item.split,
        "status": item.status,
        "round": item.round,
    }


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


# The bodies show objects as the API does, through its serializers, imported where a body is
# built: a worker that never delivers a webhook does not load the REST framework.


def _approved(event: dict[str, Any]) -> dict[str, Any]:
    from review.apis import FinalRecordSerializer

    final = (
        FinalRecord.objects.select_related("approved_by")
        .filter(pk=event["final_record_id"])
        .first()
    )
    return {
        "item": _item(event["item_id"]),
        "final_record": FinalRecordSerializer(final).data if final is not None else None,
        "provenance": event["provenance"],
        "approved_by": _username(final.approved_by) if final is not None else None,
    }


def _rejected(event: dict[str, Any]) -> dict[str, Any]:
    review = Review.objects.select_related("reviewer").filter(pk=event["review_id"]).first()
    return {
        "item": _item(event["item_id"]),
        "review": {
            "id": event["review_id"],
            "note": review.note if review is not None else "",
            "reviewer": _username(review.reviewer) if review is not None else None,
            "then": event["then"],
        },
    }


def _reopened(event: dict[str, Any]) -> dict[str, Any]:
    return {"item": _item(event["item_id"]), "status": event["status"]}


def _stalled(event: dict[str, Any]) -> dict[str, Any]:
    return {"item": _item(event["item_id"]), "round": event["round"]}


def _submitted(event: dict[str, Any]) -> dict[str, Any]:
    annotation = (
        Annotation.objects.select_related("annotator").filter(pk=event["annotation_id"]).first()
    )
    return {
        "item": _item(event["item_id"]),
        "annotation": {
            "id": event["annotation_id"],
            "annotator": _username(annotation.annotator) if annotation is not None else None,
            "payload": annotation.payload if annotation is not None else None,
            "seconds_spent": annotation.seconds_spent if annotation is not None else None,
        },
    }


def _export(event: dict[str, Any]) -> dict[str, Any]:
    from exports.apis import ExportOutputSerializer

    job = ExportJob.objects.select_related("created_by").filter(pk=event["export_id"]).first()
    if job is None:
        return {"export": {"id": event["export_id"], "status": event["status"]}}
    return {"export": ExportOutputSerializer(job).data}


def _agreement(event: dict[str, Any]) -> dict[str, Any]:
    from agreement.apis import AgreementJobSerializer

    report = AgreementReport.objects.filter(pk=event["report_id"]).first()
    if report is None:
        return {"report": {"id": event["report_id"], "status": event["status"]}}
    return {
        "report": {
            **AgreementJobSerializer(report).data,
            "annotation_count": report.annotation_count,
            "fields": report.fields,
        }
    }


_register(
    WebhookEventType("item.approved", ItemApproved, "an item got its final record", _approved)
)
_register(WebhookEventType("item.rejected", ItemRejected, "a reviewer rejected an item", _rejected))
_register(
    WebhookEventType(
        "item.reopened", ItemReopened, "a decided item went back to review or annotation", _reopened
    )
)
_register(
    WebhookEventType("item.stalled", ItemStalled, "nobody left may annotate an item", _stalled)
)
_register(
    WebhookEventType(
        "annotation.submitted", AnnotationSubmitted, "an annotator submitted", _submitted
    )
)
_register(
    WebhookEventType(
        "export.finished", ExportFinished, "an export is done or failed", _export, item_field=None
    )
)
_register(
    WebhookEventType(
        "agreement.finished",
        AgreementFinished,
        "an agreement report is done or failed",
        _agreement,
        item_field=None,
    )
)

EVENT_NAMES: tuple[str, ...] = webhook_events.keys()
