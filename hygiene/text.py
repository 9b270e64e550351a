"""The text of an item that near-duplicate checks compare: its prompt."""

from typing import Any


def prompt_text(data: Any) -> str:
    """``prompt``, or the user messages of ``messages`` joined by newlines ("" when none)."""
    if not isinstance(data, dict):
        return ""
    messages = data.get("messages")
    if isinstance(messages, list) and messages:
        return "\n".join(
            m["content"]
            for m in messages
            if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str)
        )
    prompt = data.get("prompt")
    return prompt if isinstance(prompt, str) else ""
