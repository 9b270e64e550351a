"""Alpaca: ``{"instruction", "input", "output"}`` rows, written as one JSON array.

Alpaca has three fields and no roles, so (decisions taken here):

- ``instruction`` is the last user turn as written (context is not appended to it).
- ``input`` holds what came before it and the context, joined by a blank line: earlier turns of a
  multi-turn conversation flattened one per paragraph as ``"User: ..."`` / ``"Assistant: ..."``,
  then ``context``. A single-turn item without context has ``input == ""``.
- ``output`` is the final response.
- System prompts (the item's, the project's, or system turns of the conversation) have no place
  in the three-field shape and are left out; use a chat format to keep them.
"""

from __future__ import annotations

from .records import ExportRecord, Row, context_of, conversation, final_response

_SPEAKER = {"user": "User", "assistant": "Assistant"}


def alpaca_rows(record: ExportRecord) -> list[Row]:
    """instruction, refusal -> ``{"instruction", "input", "output"}``."""
    turns = [turn for turn in conversation(record) if turn["role"] != "system"]
    *earlier, last = turns
    parts = [f"{_SPEAKER[turn['role']]}: {turn['content']}" for turn in earlier]
    context = context_of(record)
    if context:
        parts.append(context)
    return [
        {
            "instruction": last["content"],
            "input": "\n\n".join(parts),
            "output": final_response(record),
        }
    ]
