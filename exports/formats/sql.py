"""Preference rows from plain columns: the pair picked in the SELECT, the row's bytes from a
template.

For the preference shapes (``trl-preference``, ``openai-dpo``, ``trl-kto``) a record in the
plain shape, a ``prompt`` with neither ``messages``, ``context`` nor its own ``system``, whose
kind states its pair in SQL (``Kind.pair_sql``), comes from the database as three texts:
prompt, chosen, rejected. Its line is then the shape's template (the format's own pair-row
function, encoded once per export with placeholders) around the three texts, each encoded by
orjson, the serializer ``encode_json`` uses: the same bytes, with no dict built, sorted or
walked. Every other record (a conversation, context, a tie, a kind without ``pair_sql``, an
unusual shape) gets NULLs and is built by the format's row function as before.
``tests/exports/test_export_golden.py`` holds both paths to the files the Python path wrote.

Why not the whole line in SQL (``json_build_object``): its text puts a space after every ``:``
and ``,`` (so does jsonb's), and escaping a string with ``to_json(text)`` costs the server about
as much per row as the whole ``COPY`` of the rows (measured with bench/export.py): the line
built by concatenation in the SELECT took 3.5x the COPY, the three texts 1.2x.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter

import orjson

from annotation import kinds

from .openai import openai_dpo_pair_rows
from .records import ExportRecord, Message, Row, prompt_messages
from .trl import trl_kto_pair_rows, trl_preference_pair_rows
from .writers import _LINE_BREAK_BYTES, encode_json

PairRows = Callable[[list[Message], str, str], list[Row]]
PAIR_SHAPES: dict[str, PairRows] = {
    "trl-preference": trl_preference_pair_rows,
    "openai-dpo": openai_dpo_pair_rows,
    "trl-kto": trl_kto_pair_rows,
}
# Rows per record of a pair shape (trl-kto gives two, one per line of the encoded bytes).
ROWS_PER_LINE = {shape: len(rows([], "", "")) for shape, rows in PAIR_SHAPES.items()}
PAIR_COLUMNS = ("pair_prompt", "pair_chosen", "pair_rejected")
# Placeholders no imported text holds (private use code points around a NUL, which
# PostgreSQL's jsonb refuses), so each is found exactly where its value goes.
_PLACEHOLDERS = ("\ue000\x00prompt\ue000", "\ue000\x00chosen\ue000", "\ue000\x00rejected\ue000")


def pair_columns_sql(
    shape: str, taken: frozenset[str], *, data: str, final: str, kind: str
) -> tuple[list[str], list[str]] | None:
    """(the three SQL expressions of prompt, chosen and rejected text, NULL where Python builds
    the rows; their parameters), or None when no record of the shape is read so. ``data``,
    ``final`` and ``kind``: the SQL of the item's data, the final payload (jsonb) and the
    item's kind; ``taken``: the kinds the format takes."""
    if shape not in PAIR_SHAPES:
        return None
    plain = (
        f"jsonb_typeof({data} -> 'prompt') = 'string'"
        f" AND NOT ({data} ? 'messages') AND NOT ({data} ? 'context') AND NOT ({data} ? 'system')"
    )
    columns: list[list[str]] = [[], [], []]
    params: list[list[str]] = [[], [], []]
    for each in kinds.registry:
        pair = each.pair_sql(data, final) if each.name in taken else None
        if pair is None or each.coverage_field:  # a manifest category is counted in Python
            continue
        condition, chosen, rejected = pair
        for index, value in enumerate((f"{data} ->> 'prompt'", chosen, rejected)):
            columns[index].append(f"WHEN {kind} = %s AND {plain} AND {condition} THEN {value}")
            params[index].append(each.name)
    if not columns[0]:
        return None
    return [f"(CASE {' '.join(branches)} END)" for branches in columns], [
        value for group in params for value in group
    ]


class PairEncoder:
    """``encode(prompt, chosen, rejected)`` -> bytes; ``constant``: every byte of the lines
    that is not one of the three texts (the same in every record)."""

    def __init__(self, encode: Callable[[str, str, str], bytes], constant: bytes) -> None:
        self.encode, self.constant = encode, constant

    def __call__(self, prompt: str, chosen: str, rejected: str) -> bytes:
        return self.encode(prompt, chosen, rejected)


def pair_encoder(shape: str, system_prompt: str) -> PairEncoder:
    """``encode(prompt, chosen, rejected)``: the record's rows in ``shape`` as ``encode_json``
    writes them, one per line, for a plain prompt (``records.prompt_messages``: the project's
    system prompt when set, then the prompt as the one user turn)."""
    record = ExportRecord(0, "", "", {"prompt": _PLACEHOLDERS[0]}, {}, system_prompt)
    rows = PAIR_SHAPES[shape](prompt_messages(record), *_PLACEHOLDERS[1:])
    template = b"\n".join(encode_json(row) for row in rows)
    marks = {orjson.dumps(text): index for index, text in enumerate(_PLACEHOLDERS)}
    parts: list[bytes] = []
    order: list[int] = []
    rest = template
    while True:
        found = [(rest.find(mark), mark) for mark in marks if mark in rest]
        if not found:
            break
        at, mark = min(found)
        parts.append(rest[:at])
        order.append(marks[mark])
        rest = rest[at + len(mark) :]
    parts.append(rest)
    # One %-format of the template with the texts' JSON in template order: a single C call.
    template_format = b"%b".join(part.replace(b"%", b"%%") for part in parts)
    in_order = itemgetter(*order)
    dumps = orjson.dumps
    line_breaks = _LINE_BREAK_BYTES

    def encode(prompt: str, chosen: str, rejected: str) -> bytes:
        line = template_format % in_order((dumps(prompt), dumps(chosen), dumps(rejected)))
        if not line.isascii():  # as encode_json: the Unicode line breaks escaped
            for char, escape in line_breaks:
                if char in line:
                    line = line.replace(char, escape)
        return line

    # Placeholders apart, NUL-separated: no hint of the scanner spans two of the parts.
    return PairEncoder(encode, b"\x00".join(parts))
