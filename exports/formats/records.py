"""The input every export format reads, and the prompt/message building they all share.

Pure functions over plain data: no Django here (the kinds in annotation.kinds are plain Python
too), so Celery tasks and tests call them directly. What differs by kind (the reply, the pair,
the category) is the kind's.

Decisions taken here once for every format:

- The prompt is the item's ``messages`` when given (the conversation kept as is, each message
  reduced to ``{"role", "content"}``), else one user message holding ``prompt``.
- ``context``, when set and non-empty, is appended to the last user turn (the one the final
  response answers) as ``turn + "\\n\\n" + context``. ``context`` is defined for instruction
  items; it is applied the same way for any kind whose data carries it, so a prompt never loses
  text the annotator saw.
- The system prompt is the item's ``system`` when set, else the project's, else none. It goes first
  as a ``{"role": "system"}`` message, unless the conversation already starts with a system message
  (the item's own conversation wins).
- Text is never normalised, stripped or re-encoded: what was imported is what is exported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from annotation.kinds import RecordError, kind_get

Row = dict[str, Any]
Message = dict[str, str]

ROLES = ("system", "user", "assistant")

# Why a record gave no row when the format does not take its kind; the other reasons ("tie",
# "not_refused", ...) come from the kind (``pair_skip_reason``).
SKIP_KIND = "kind_not_taken"


@dataclass(frozen=True, slots=True)
class ExportRecord:
    item_id: int
    external_id: str
    kind: str  # a kind of annotation.kinds
    data: dict  # the item's data exactly as imported (its kind's fields, annotation.kinds)
    final: dict  # the approved final payload, the annotation payload shape of the kind
    system_prompt: str = ""  # the project's system prompt; the item's data["system"] wins when set
    metadata: dict | None = None  # the item's metadata (the extra columns option writes it)
    split: str = ""  # the item's split ("" when the caller does not say)


@dataclass(slots=True)
class EncodedBatch:
    """Consecutive records whose rows were built from the pair texts read in the database
    (``formats.sql``), encoded together: ``lines`` holds the exact bytes ``encode_json`` gives
    their rows, each row followed by ``"\\n"``, in record order. The other fields are lists
    with one entry per record."""

    item_ids: list[int]
    external_ids: list[str]
    kinds: list[str]
    splits: list[str]
    texts: list[tuple[str, ...]]  # the strings each record's lines hold besides the constant ones
    lines: bytes
    encode: Callable[[list[tuple[str, ...]]], bytes]  # texts -> lines (formats.sql.PairEncoder)
    data: list[Any] | None = None  # the items' data, when a check reads prompts (else None)

    def __len__(self) -> int:
        return len(self.item_ids)

    def subset(self, keep: list[int]) -> EncodedBatch:
        """The records at the indexes ``keep`` (in order), their rows encoded again."""
        texts = [self.texts[i] for i in keep]
        return EncodedBatch(
            [self.item_ids[i] for i in keep],
            [self.external_ids[i] for i in keep],
            [self.kinds[i] for i in keep],
            [self.splits[i] for i in keep],
            texts,
            self.encode(texts),
            self.encode,
            None if self.data is None else [self.data[i] for i in keep],
        )


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


def _kind_call(record: ExportRecord, method: str) -> Any:
    """Call the record's kind (annotation.kinds): its errors name the record."""
    try:
        return getattr(kind_get(record.kind), method)(record.data, record.final)
    except RecordError as exc:
        raise ExportRecordError(record, str(exc)) from None


def final_response(record: ExportRecord) -> str:
    """The approved reply of a record whose kind gives one (instruction, refusal)."""
    return _kind_call(record, "reply")


def pair_skip_reason(record: ExportRecord) -> str | None:
    """Why a record gives no preference pair, or None when it gives one (the kind decides:
    a preference tie, a refusal that did not refuse or has no model response to reject)."""
    return _kind_call(record, "pair_skip_reason")


def preference_pair(record: ExportRecord) -> Pair | None:
    """Chosen and rejected replies, or None (see ``pair_skip_reason``)."""
    pair = _kind_call(record, "pair")
    return None if pair is None else Pair(chosen=pair[0], rejected=pair[1])


def category_of(record: ExportRecord) -> str | None:
    """The category a record counts under in a manifest (instruction ``category``, refusal
    ``harm_category``, falling back to the item's); None for a kind without one."""
    return _kind_call(record, "manifest_category")


def gives_label(record: ExportRecord) -> bool:
    return kind_get(record.kind).gives_label


def labelled_completion(record: ExportRecord) -> tuple[str, bool] | None:
    """(completion, label) of a record whose kind gives one (a rubric item's pass/fail), else
    None (see ``label_skip_reason``)."""
    if not gives_label(record):
        return None
    return _kind_call(record, "labelled_completion")


def label_skip_reason(record: ExportRecord) -> str | None:
    return _kind_call(record, "label_skip_reason")


def result_row(record: ExportRecord) -> dict[str, Any]:
    """The kind's columns of an evaluation result row (model, response, scores, group, tags)."""
    return _kind_call(record, "result_row")
