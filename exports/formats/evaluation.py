"""Evaluation results for analysis: one JSON line per approved item that scores a model."""

from __future__ import annotations

from .records import ExportRecord, Row, prompt_messages, result_row


def eval_results_rows(record: ExportRecord) -> list[Row]:
    """rubric -> ``{"id", "prompt": [messages], "model", "response", "scores": {criterion:
    int | bool}, "group": str ("" for none), "tags": [str]}``."""
    return [{"id": record.external_id, "prompt": prompt_messages(record), **result_row(record)}]
