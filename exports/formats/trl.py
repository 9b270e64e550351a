"""TRL (Hugging Face) dataset shapes, conversational variant.

See https://huggingface.co/docs/trl/dataset_formats: every side is a list of chat messages, so
TRL applies the model's chat template itself.
"""

from __future__ import annotations

from .records import (
    ExportRecord,
    Message,
    Row,
    assistant,
    final_response,
    labelled_completion,
    preference_pair,
    prompt_messages,
)


def trl_sft_rows(record: ExportRecord) -> list[Row]:
    """instruction, refusal -> ``{"messages": [system?, ...prompt..., assistant]}``."""
    messages = prompt_messages(record)
    messages.extend(assistant(final_response(record)))
    return [{"messages": messages}]


def trl_prompt_completion_rows(record: ExportRecord) -> list[Row]:
    """instruction, refusal -> ``{"prompt": [system?, ...], "completion": [assistant]}``."""
    return [{"prompt": prompt_messages(record), "completion": assistant(final_response(record))}]


def trl_preference_pair_rows(prompt: list[Message], chosen: str, rejected: str) -> list[Row]:
    return [{"prompt": prompt, "chosen": assistant(chosen), "rejected": assistant(rejected)}]


def trl_preference_rows(record: ExportRecord) -> list[Row]:
    """preference (ties left out), refused refusal with a model_response ->
    ``{"prompt": [...], "chosen": [assistant], "rejected": [assistant]}``."""
    pair = preference_pair(record)
    if pair is None:
        return []
    return trl_preference_pair_rows(prompt_messages(record), pair.chosen, pair.rejected)


def trl_kto_pair_rows(prompt: list[Message], chosen: str, rejected: str) -> list[Row]:
    return [
        {"prompt": prompt, "completion": assistant(chosen), "label": True},
        {"prompt": [dict(m) for m in prompt], "completion": assistant(rejected), "label": False},
    ]


def trl_kto_rows(record: ExportRecord) -> list[Row]:
    """The pairs of ``trl-preference``, unpaired: the chosen reply labelled true, then the
    rejected one labelled false -> ``{"prompt", "completion", "label"}``.

    A tie is left out: it says the two replies are equally good or equally bad, which tells
    nothing about whether either is desirable on its own.
    """
    pair = preference_pair(record)
    if pair is None:
        return []
    return trl_kto_pair_rows(prompt_messages(record), pair.chosen, pair.rejected)


def trl_kto_labelled_rows(record: ExportRecord) -> list[Row]:
    """``trl-kto`` with single completions labelled by the lead's choice (``pass_fail``): a
    rubric item's response labelled true when it passed (every pass/fail criterion), false
    when it failed; a preference gives its two rows as in ``trl_kto_rows``."""
    labelled = labelled_completion(record)
    if labelled is None:
        return trl_kto_rows(record)
    completion, label = labelled
    return [
        {"prompt": prompt_messages(record), "completion": assistant(completion), "label": label}
    ]
