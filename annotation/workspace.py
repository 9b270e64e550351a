"""The workspace's presenter: what the task form sends, and what the task panel shows.

The browser works in displayed terms (left/right, keys 1..7 on a preference's scale); the
payload a service stores is in A/B terms. The kind maps between the two, on the server
(`ItemKind.payload_from_form`): the client is never trusted to map. Drafts keep the displayed
values, so a reload shows the same screen.
"""

import math
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from annotation import kinds
from annotation.models import Annotation, Assignment, Item, Project, SuggestionMode
from annotation.selectors import annotator_data

FIELD_LABELS = {"seconds_spent": "Time spent"}


# --- what the form sends ----------------------------------------------------------------------


def assignment_form_values(assignment: Assignment, post: QueryDict) -> dict[str, Any]:
    """The form's fields as typed: the shared ones, and those of the item's kind."""
    return item_form_values(assignment.item, assignment.project, post)


def item_form_values(item: Item, project: Project, post: QueryDict) -> dict[str, Any]:
    """The task form's fields for `item` as typed (displayed terms): its kind's, and the time
    spent. What a draft stores and a re-render shows."""
    values = kinds.kind_get(item.kind).form_values(post, project)
    seconds = seconds_from(post)
    if seconds is not None:
        values["seconds_spent"] = seconds
    return values


def seconds_from(post: QueryDict) -> float | None:
    try:
        seconds = float(post.get("seconds_spent", ""))
    except ValueError:
        return None
    return round(seconds, 3) if math.isfinite(seconds) else None


@dataclass
class Answer:
    payload: dict[str, Any]
    values: dict[str, Any]
    errors: list[dict[str, str]] = field(default_factory=list)


def answer_from_post(assignment: Assignment, post: QueryDict) -> Answer:
    """The annotation payload (A/B terms) the form describes, with the typed values kept.

    A field left empty is left out, so the service reports it as required; a value no form
    control can send (a scale key outside 1..7) is an error here."""
    values = assignment_form_values(assignment, post)
    payload, errors = kinds.kind_get(assignment.item.kind).payload_from_form(
        values, assignment.display_order
    )
    return Answer(payload=payload, values=values, errors=errors)


# --- what the task panel shows ----------------------------------------------------------------


def _messages(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The prompt as turns of text (the template renders each as markdown)."""
    if "messages" in data:
        return [
            {"role": m.get("role", ""), "text": str(m.get("content", ""))} for m in data["messages"]
        ]
    return [{"role": "user", "text": str(data.get("prompt", ""))}]


def initial_values(assignment: Assignment) -> dict[str, Any]:
    """The form as it opens: the autosaved draft, else the kind's starting values, with a
    model's suggested labels only where the project preselects them."""
    if assignment.draft:
        return _form_values(assignment.draft)
    kind = kinds.kind_get(assignment.item.kind)
    values = kind.initial_values(assignment.item.data)
    if assignment.project.suggestions == SuggestionMode.PRESELECT:
        values.update(kind.suggestions(assignment.item.data))
    return values


_SCALARS = str | int | float | bool | None


def _form_values(draft: Any) -> dict[str, Any]:
    """A saved draft as form values: what a form can hold (text, numbers, and one level of
    named values such as the criteria); anything else a client saved through the API is left
    out, so a draft of the wrong shape never breaks the page."""
    if not isinstance(draft, dict):
        return {}
    values: dict[str, Any] = {}
    for key, value in draft.items():
        named = isinstance(value, dict) and all(isinstance(v, _SCALARS) for v in value.values())
        if named or isinstance(value, _SCALARS):
            values[key] = value
    return values


def task_display(
    assignment: Assignment, values: dict[str, Any], errors: list[dict[str, str]]
) -> dict[str, Any]:
    """Everything the task panel shows, ready for the template (which escapes all of it)."""
    return item_display(
        assignment.item, assignment.project, assignment.display_order, values, errors
    )


def annotation_values(annotation: Annotation) -> dict[str, Any]:
    """A submitted annotation as its form's values, in the terms its annotator saw."""
    kind = kinds.kind_get(annotation.item.kind)
    return kind.values_from_payload(annotation.payload, annotation.display_order)


def item_display(
    item: Item,
    project: Project,
    display_order: str,
    values: dict[str, Any],
    errors: list[dict[str, str]],
) -> dict[str, Any]:
    """An item's task panel for a form in `display_order`: a new task or an annotation being
    changed."""
    kind = kinds.kind_get(item.kind)
    data = annotator_data(item, project)
    invalid = {e["field"] for e in errors}
    labels = {**FIELD_LABELS, **kind.field_labels}
    return {
        "kind": item.kind,
        "label": kind.label,
        "heading": kind.task_heading,
        "template": kind.task_template,
        "autofocus_field": kind.autofocus_field,
        "system": data.get("system") or None,
        "messages": _messages(data),
        "values": values,
        "invalid": invalid,
        "error_list": [
            # A field inside an object (a preference's criteria.honesty) by its own name.
            {"label": labels.get(e["field"], e["field"].rsplit(".", 1)[-1]), **e}
            for e in errors
        ],
        "seconds_before": values.get("seconds_spent", 0) or 0,
        # Labelled suggestions to confirm (the project's `suggestions` is "confirm").
        "suggested": [
            {"field": name, "value": value, "label": kinds.label_of(value)}
            for name, value in kind.suggestions(item.data).items()
        ]
        if project.suggestions == SuggestionMode.CONFIRM
        else [],
        **kind.task_display(data, values, project, display_order, invalid),
    }
