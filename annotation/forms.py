"""What the workspace form sends and what the task panel shows.

The browser works in displayed terms (left/right on a 1..7 scale); the payload a service stores
is in A/B terms. The mapping happens here, on the server, in `rating_from_display`: the client
is never trusted to map. Drafts keep the displayed values, so a reload shows the same screen.
"""

import math
import re
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from annotation import kinds
from annotation.models import Assignment
from annotation.selectors import blind_data

SCALE = (
    (1, "Left much better"),
    (2, "Left better"),
    (3, "Left slightly better"),
    (4, "Equal"),
    (5, "Right slightly better"),
    (6, "Right better"),
    (7, "Right much better"),
)
SCALE_KEYS = {str(key) for key, _ in SCALE}
DECISIONS = (
    ("refuse", "Refuse", "R"),
    ("comply", "Comply", "C"),
    ("partial", "Partly comply", "P"),
)
TEXT_FIELDS = ("response", "rationale")
CHOICE_FIELDS = ("category", "decision", "harm_category")
CRITERION_PREFIX = "criteria."


def rating_from_display(key: int, display_order: str) -> int:
    """The stored A/B rating for scale key `key` (1 = left much better ... 7 = right much
    better) when the responses were shown in `display_order` ("AB": A on the left, "BA":
    swapped). Negative ratings mean A is better."""
    if not 1 <= key <= 7:
        raise ValueError(f"scale key must be 1..7, not {key}")
    displayed = key - 4  # negative: the left response is better
    return -displayed if display_order == "BA" else displayed


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _text(post: QueryDict, name: str) -> str | None:
    value = post.get(name)
    if value is None:
        return None
    # Browsers send textarea line breaks as CRLF; the typed text has LF.
    return value.replace("\r\n", "\n")


# --- what the form sends ----------------------------------------------------------------------


def form_values(post: QueryDict, criteria: tuple[str, ...]) -> dict[str, Any]:
    """The form's fields as typed (displayed terms): what a draft stores and a re-render shows."""
    values: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        text = _text(post, name)
        if text is not None:
            values[name] = text
    for name in (*CHOICE_FIELDS, "rating"):
        if post.get(name):
            values[name] = post[name]
    marks = {
        name: post[f"{CRITERION_PREFIX}{name}"]
        for name in criteria
        if post.get(f"{CRITERION_PREFIX}{name}")
    }
    if marks:
        values["criteria"] = marks
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
    kind = assignment.item.kind
    criteria = tuple(assignment.project.criteria)
    values = form_values(post, criteria)
    payload: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    if kind == kinds.INSTRUCTION:
        payload["response"] = values.get("response", "")
        if "category" in values:
            payload["category"] = values["category"]
    elif kind == kinds.REFUSAL:
        payload["response"] = values.get("response", "")
        for name in ("decision", "harm_category"):
            if name in values:
                payload[name] = values[name]
    elif kind == kinds.PREFERENCE:
        order = assignment.display_order
        if "rating" in values:
            if values["rating"] in SCALE_KEYS:
                payload["rating"] = rating_from_display(int(values["rating"]), order)
            else:
                errors.append({"field": "rating", "message": "Choose a point on the scale."})
        marks = {}
        for name, key in values.get("criteria", {}).items():
            if key in SCALE_KEYS:
                marks[name] = rating_from_display(int(key), order)
            else:
                errors.append({"field": f"criteria.{name}", "message": "Choose a point."})
        if marks:
            payload["criteria"] = marks
        if values.get("rationale", "").strip():
            payload["rationale"] = values["rationale"]
    return Answer(payload=payload, values=values, errors=errors)


# --- what the task panel shows ----------------------------------------------------------------

_FENCE = re.compile(r"^```[^\n`]*\n(.*?)^```[ \t]*$\n?", re.MULTILINE | re.DOTALL)


def text_blocks(text: str) -> list[dict[str, Any]]:
    """Split a text into prose and fenced code blocks. Both stay plain text (the template
    escapes them): prose is shown with its line breaks kept, code as preformatted text."""
    blocks: list[dict[str, Any]] = []
    position = 0
    for match in _FENCE.finditer(text):
        prose = text[position : match.start()].strip("\n")
        if prose:
            blocks.append({"code": False, "text": prose})
        blocks.append({"code": True, "text": match.group(1).rstrip("\n")})
        position = match.end()
    rest = text[position:].strip("\n")
    if rest:
        blocks.append({"code": False, "text": rest})
    return blocks


def _messages(data: dict[str, Any]) -> list[dict[str, Any]]:
    if "messages" in data:
        return [
            {"role": m.get("role", ""), "blocks": text_blocks(str(m.get("content", "")))}
            for m in data["messages"]
        ]
    return [{"role": "user", "blocks": text_blocks(str(data.get("prompt", "")))}]


def _scale(chosen: Any, *, optional: bool = False) -> list[dict[str, Any]]:
    options = [
        {"value": str(key), "key": key, "label": label, "checked": chosen == str(key)}
        for key, label in SCALE
    ]
    if optional:
        options.append(
            {"value": "", "key": "", "label": "Not rated", "checked": chosen in (None, "")}
        )
    return options


def _choices(names: Any, chosen: Any) -> list[dict[str, Any]]:
    return [{"value": n, "label": _label(n), "selected": n == chosen} for n in names]


FIELD_LABELS = {
    "response": "Response",
    "category": "Category",
    "rating": "Overall rating",
    "rationale": "Rationale",
    "decision": "Decision",
    "harm_category": "Harm category",
    "seconds_spent": "Time spent",
}


def initial_values(assignment: Assignment) -> dict[str, Any]:
    """The form as it opens: the autosaved draft, else what the item suggests."""
    if assignment.draft:
        return dict(assignment.draft)
    data = assignment.item.data
    if assignment.item.kind == kinds.INSTRUCTION:
        return {"response": data.get("draft", ""), "category": data.get("category", "")}
    if assignment.item.kind == kinds.REFUSAL:
        return {"harm_category": data.get("harm_category", "")}
    return {}


def task_display(
    assignment: Assignment, values: dict[str, Any], errors: list[dict[str, str]]
) -> dict[str, Any]:
    """Everything the task panel shows, ready for the template (which escapes all of it)."""
    item, project = assignment.item, assignment.project
    data = blind_data(item)
    invalid = {e["field"] for e in errors}
    response_label = "Ideal response" if item.kind == kinds.REFUSAL else "Response"
    labels = {**FIELD_LABELS, "response": response_label}
    display: dict[str, Any] = {
        "kind": item.kind,
        "system": text_blocks(data["system"]) if data.get("system") else None,
        "messages": _messages(data),
        "values": values,
        "invalid": invalid,
        "error_list": [
            {"label": labels.get(e["field"], e["field"].removeprefix("criteria.")), **e}
            for e in errors
        ],
        "seconds_before": values.get("seconds_spent", 0) or 0,
    }
    if item.kind == kinds.INSTRUCTION:
        display["context"] = text_blocks(data["context"]) if data.get("context") else None
        display["has_model_draft"] = bool(data.get("draft"))
        display["categories"] = _choices(project.categories, values.get("category"))
    elif item.kind == kinds.PREFERENCE:
        texts = [r["text"] for r in data["responses"]]
        if assignment.display_order == "BA":
            texts.reverse()
        display["sides"] = [
            {"name": "Left", "blocks": text_blocks(texts[0])},
            {"name": "Right", "blocks": text_blocks(texts[1])},
        ]
        display["scale"] = _scale(values.get("rating"))
        marks = values.get("criteria") or {}
        display["criteria"] = [
            {
                "name": name,
                "label": _label(name),
                "options": _scale(marks.get(name), optional=True),
                "invalid": f"criteria.{name}" in invalid,
            }
            for name in project.criteria
        ]
    elif item.kind == kinds.REFUSAL:
        model_response = data.get("model_response")
        display["model_response"] = text_blocks(model_response) if model_response else None
        display["decisions"] = [
            {"value": v, "label": label, "key": key, "checked": values.get("decision") == v}
            for v, label, key in DECISIONS
        ]
        display["harm_categories"] = _choices(project.harm_categories, values.get("harm_category"))
    return display
