"""ShareGPT: ``{"id", "conversations": [{"from": "system" | "human" | "gpt", "value"}]}``."""

from __future__ import annotations

from .records import ExportRecord, Row, final_response, prompt_messages

_FROM = {"system": "system", "user": "human", "assistant": "gpt"}


def sharegpt_rows(record: ExportRecord) -> list[Row]:
    """instruction, refusal -> the chat prompt (system first when set, context appended to the
    last user turn) and the final response as ``gpt``; ``id`` is the item's external id."""
    messages = prompt_messages(record)
    conversations = [{"from": _FROM[m["role"]], "value": m["content"]} for m in messages]
    conversations.append({"from": "gpt", "value": final_response(record)})
    return [{"id": str(record.external_id), "conversations": conversations}]
