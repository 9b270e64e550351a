"""OpenAI fine-tuning shapes: supervised chat and direct preference optimisation (DPO)."""

from __future__ import annotations

from .records import (
    ExportRecord,
    Message,
    Row,
    assistant,
    final_response,
    preference_pair,
    prompt_messages,
)


def openai_chat_rows(record: ExportRecord) -> list[Row]:
    """instruction, refusal -> ``{"messages": [system?, ...prompt..., assistant]}``."""
    messages = prompt_messages(record)
    messages.extend(assistant(final_response(record)))
    return [{"messages": messages}]


def openai_dpo_rows(record: ExportRecord) -> list[Row]:
    """As ``trl-preference`` -> ``{"input": {"messages": [...]}, "preferred_output": [assistant],
    "non_preferred_output": [assistant]}``."""
    pair = preference_pair(record)
    if pair is None:
        return []
    return openai_dpo_pair_rows(prompt_messages(record), pair.chosen, pair.rejected)


def openai_dpo_pair_rows(prompt: list[Message], chosen: str, rejected: str) -> list[Row]:
    return [
        {
            "input": {"messages": prompt},
            "preferred_output": assistant(chosen),
            "non_preferred_output": assistant(rejected),
        }
    ]
