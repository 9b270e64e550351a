"""The input every export format reads, and the prompt/message building they all share.

Pure functions over plain data: no Django here, so Celery tasks and tests call them directly.

Decisions that DESIGN.md leaves open, taken here once for every format:

- The prompt is the item's ``messages`` when given (the conversation kept as is, each message
  reduced to ``{"role", "content"}``), else one user message holding ``prompt``.
- ``context``, when set and non-empty, is appended to the last user turn (the one the final
  response answers) as ``turn + "\\n\\n" + context``. DESIGN.md defines ``context`` for instruction
  items; it is applied the same way for any kind whose data carries it, so a prompt never loses
  text the annotator saw.
- The system prompt is the item's ``system`` when set, else the project's, else none. It goes first
  as a ``{"role": "system"}`` message, unless the conversation already starts with a system message
  (the item's own conversation wins).
- Text is never normalised, stripped or re-encoded: what was imported is what is exported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Row = dict[str, Any]
Message = dict[str, str]

KINDS = ("instruction", "preference", "refusal")
ROLES = ("system", "user", "assistant")

# Why a record of a kind the format takes still gave no row (see ``pair_skip_reason``).
SKIP_KIND = "kind_not_taken"
SKIP_TIE = "tie"
SKIP_NOT_REFUSED = "not_refused"
SKIP_NO_MODEL_RESPONSE = "no_model_response"
SKIP_SAME_TEXT = "same_text"

UNCATEGORIZED = "uncategorized"


@dataclass(frozen=True, slots=True)
class ExportRecord:
    item_id: int
    external_id: str
    kind: str  # "instruction" | "preference" | "refusal"
    data: dict  # the item's data exactly as imported (DESIGN.md "Item kinds")
    final: dict  # the approved final payload, the annotation payload shape of the kind
    system_prompt: str = ""  # the project's system prompt; the item's data["system"] wins when set


class ExportRecordError(ValueError):
    """A record whose data or final payload cannot be turned into rows.

    Items and final payloads are validated on the way in, so this means a bug upstream; the
    message names the item so the export job's error says which one.
    """

    def __init__(self, record: ExportRecord, message: str) -> None:
        self.item_id = record.item_id
        self.external_id = record.external_id
        super().__init__(f"item {record.item_id} ({record.external_id!r}): {message}")


@dataclass(frozen=True, slots=True)
class Pair:
    """A preference between two assistant replies to the same prompt."""

    chosen: str
    rejected: str


def _text(record: ExportRecord, value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ExportRecordError(record, f"{what} must be a string, got {type(value).__name__}")
    return value


def message(role: str, content: str) -> Message:
    return {"role": role, "content": content}


def assistant(content: str) -> list[Message]:
    """The completion side of a row: one assistant message in a list."""
    return [message("assistant", content)]


def system_prompt_of(record: ExportRecord) -> str:
    """The item's ``system`` when set, else the project's system prompt, else ``""``."""
    item_system = record.data.get("system")
    if item_system:
        return _text(record, item_system, "data.system")
    return record.system_prompt or ""


def context_of(record: ExportRecord) -> str:
    context = record.data.get("context")
    if not context:
        return ""
    return _text(record, context, "data.context")


def conversation(record: ExportRecord) -> list[Message]:
    """The item's conversation as fresh ``{"role", "content"}`` dicts: no system prompt added,
    no context appended. The last message is from the user."""
    raw = record.data.get("messages")
    if raw:
        if not isinstance(raw, list):
            raise ExportRecordError(record, "data.messages must be a list")
        messages = []
        for index, item in enumerate(raw):
            if not isinstance(item, dict | Mapping):
                raise ExportRecordError(record, f"data.messages[{index}] must be an object")
            role, content = item.get("role"), item.get("content")
            # The checks' messages are built only on failure: this runs for every message of
            # every record of an export.
            if role not in ROLES:
                _text(record, role, f"data.messages[{index}].role")
                raise ExportRecordError(record, f"data.messages[{index}].role {role!r} unknown")
            if not isinstance(content, str):
                _text(record, content, f"data.messages[{index}].content")
            messages.append(message(role, content))
        if messages[-1]["role"] != "user":
            raise ExportRecordError(record, "data.messages must end with a user message")
        return messages
    prompt = record.data.get("prompt")
    if prompt is None:
        raise ExportRecordError(record, "data has neither prompt nor messages")
    return [message("user", _text(record, prompt, "data.prompt"))]


def prompt_messages(record: ExportRecord) -> list[Message]:
    """The prompt side of a chat row: system prompt first (when set and the conversation does not
    start with its own), then the conversation, with ``context`` appended to the last user turn."""
    messages = conversation(record)
    context = context_of(record)
    if context:
        last = messages[-1]
        last["content"] = f"{last['content']}\n\n{context}"
    system = system_prompt_of(record)
    if system and messages[0]["role"] != "system":
        messages.insert(0, message("system", system))
    return messages


def final_response(record: ExportRecord) -> str:
    """The approved reply of an instruction or refusal record."""
    return _text(record, record.final.get("response"), "final.response")


def preference_rating(record: ExportRecord) -> int:
    rating = record.final.get("rating")
    if isinstance(rating, bool) or not isinstance(rating, int) or not -3 <= rating <= 3:
        raise ExportRecordError(record, f"final.rating must be an integer -3..3, got {rating!r}")
    return rating


def response_texts(record: ExportRecord) -> tuple[str, str]:
    """The texts of responses A and B; model names are never read."""
    responses = record.data.get("responses")
    if not isinstance(responses, list) or len(responses) != 2:
        raise ExportRecordError(record, "data.responses must hold exactly two responses")
    first, second = responses
    if type(first) is dict and type(second) is dict:  # the usual case, checked fast
        a, b = first.get("text"), second.get("text")
        if type(a) is str and type(b) is str:
            return a, b
    texts = []
    for index, response in enumerate(responses):
        if not isinstance(response, dict | Mapping):
            raise ExportRecordError(record, f"data.responses[{index}] must be an object")
        text = response.get("text")
        if not isinstance(text, str):
            _text(record, text, f"data.responses[{index}].text")
        texts.append(text)
    return texts[0], texts[1]


def pair_skip_reason(
    record: ExportRecord,
) -> Literal["tie", "not_refused", "no_model_response", "same_text"] | None:
    """Why a preference or refusal record gives no preference pair, or None when it gives one.

    - preference: a tie (rating 0) prefers neither side, so it is left out.
    - refusal: only a final ``refuse`` decision on an item with a ``model_response`` makes a pair
      (chosen = the ideal refusal, rejected = what the model said). When the model's text is the
      ideal refusal itself there is nothing to prefer, so it is left out too.
    """
    if record.kind == "preference":
        return SKIP_TIE if preference_rating(record) == 0 else None
    if record.kind == "refusal":
        if record.final.get("decision") != "refuse":
            return SKIP_NOT_REFUSED
        model_response = record.data.get("model_response")
        if not model_response:
            return SKIP_NO_MODEL_RESPONSE
        if _text(record, model_response, "data.model_response") == final_response(record):
            return SKIP_SAME_TEXT
        return None
    raise ExportRecordError(record, f"kind {record.kind!r} gives no preference pair")


def preference_pair(record: ExportRecord) -> Pair | None:
    """Chosen and rejected replies, or None (see ``pair_skip_reason``).

    Preference: a negative final rating prefers A (the first response), a positive one B.
    """
    if record.kind == "preference":
        rating = preference_rating(record)
        if rating == 0:
            return None
        a, b = response_texts(record)
        if rating < 0:
            return Pair(chosen=a, rejected=b)
        return Pair(chosen=b, rejected=a)
    if pair_skip_reason(record) is not None:
        return None
    return Pair(chosen=final_response(record), rejected=record.data["model_response"])


def category_of(record: ExportRecord) -> str | None:
    """The category a record counts under in a manifest: the final ``category`` (instruction) or
    ``harm_category`` (refusal), falling back to the item's; preferences have none."""
    if record.kind == "instruction":
        key = "category"
    elif record.kind == "refusal":
        key = "harm_category"
    else:
        return None
    value = record.final.get(key) or record.data.get(key)
    return value if isinstance(value, str) and value else UNCATEGORIZED
