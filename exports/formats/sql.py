"""Preference rows from plain columns: the pair picked in the SELECT, the row's bytes from a
template.

For the preference shapes (``trl-preference``, ``openai-dpo``, ``trl-kto``) a record in the
plain shape, a ``prompt`` with neither ``messages``, ``context`` nor its own ``system``, whose
kind states its pair in SQL (``Kind.pair_sql``), comes from the database as three texts:
prompt, chosen, rejected. Whether a record is read so is worked out once per record in a
middle query (``PairSQL.which``), and the texts read by it in the outer one: the conditions in
each text's expression cost the server as much again as the whole query. The lines of a
batch of records are then the shape's template (the format's own pair-row function, encoded
once per export with placeholders) around their texts, each encoded by orjson, the serializer
``encode_json`` uses: the same bytes, with no dict built, sorted or walked, and no Python code
run per record (``PairEncoder.lines``). Every other record (a conversation, context, a tie, a
kind without ``pair_sql``, an unusual shape) gets NULLs and is built by the format's row
function as before. ``tests/exports/test_export_golden.py`` holds both paths to the files the
Python path wrote.

Why not the whole line in SQL (``json_build_object``): its text puts a space after every ``:``
and ``,`` (so does jsonb's), so the line would be built by concatenation around
``to_json(text)``, whose escaping costs the server about as much per row as the whole
``COPY`` of the rows (measured with bench/export.py): the line built in the SELECT took 3.5x
the COPY, the three texts 1.2x; and the server, not Python, is the export's bottleneck.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from operator import itemgetter
from typing import NamedTuple

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
# Records whose lines are formatted at once (see pair_encoder).
ENCODE_SLICE = 64
_PLACEHOLDERS = ("\ue000\x00prompt\ue000", "\ue000\x00chosen\ue000", "\ue000\x00rejected\ue000")


class PairSQL(NamedTuple):
    """How a query reads the pair texts: ``which``, over one query level's names, is the
    1-based branch (a kind) whose pair a record gives in SQL, or 0 (built in Python), with its
    parameters; ``columns``, over the next level's names and ``which`` as it named it there,
    the SQL of the prompt, chosen and rejected texts (NULL where ``which`` is 0). Two levels,
    so the conditions are evaluated once per record, not once per text."""

    which: str
    params: list[str]
    columns: list[str]


def pair_columns_sql(
    shape: str,
    taken: frozenset[str],
    *,
    data: str,
    final: str,
    kind: str,
    outer_data: str,
    outer_final: str,
    which: str,
) -> PairSQL | None:
    """The pair texts' SQL (see PairSQL), or None when no record of the shape is read so.
    ``data``, ``final`` and ``kind``: the SQL of the item's data, the final payload (jsonb) and
    the item's kind where ``which`` is computed; ``outer_data``, ``outer_final`` and ``which``:
    the data, the payload and that column where the texts are read; ``taken``: the kinds the
    format takes."""
    if shape not in PAIR_SHAPES:
        return None
    plain = (
        f"jsonb_typeof({data} -> 'prompt') = 'string'"
        f" AND NOT ({data} ? 'messages') AND NOT ({data} ? 'context') AND NOT ({data} ? 'system')"
    )
    branches: list[str] = []
    params: list[str] = []
    columns: list[list[str]] = [[], [], []]
    for each in kinds.registry:
        pair = each.pair_sql(data, final) if each.name in taken else None
        if pair is None or each.coverage_field:  # a manifest category is counted in Python
            continue
        condition = pair[0]
        _, chosen, rejected = each.pair_sql(outer_data, outer_final)
        number = len(branches) + 1
        branches.append(f"WHEN {kind} = %s AND {plain} AND {condition} THEN {number}")
        params.append(each.name)
        for index, value in enumerate((f"{outer_data} ->> 'prompt'", chosen, rejected)):
            columns[index].append(f"WHEN {number} THEN {value}")
    if not branches:
        return None
    return PairSQL(
        f"(CASE {' '.join(branches)} ELSE 0 END)",
        params,
        [f"(CASE {which} {' '.join(values)} END)" for values in columns],
    )


class PairEncoder:
    """``encode(prompt, chosen, rejected)`` -> one record's lines (bytes, no last line end);
    ``lines(texts)``: the lines of many records, each line followed by ``"\\n"``, for a list
    of (prompt, chosen, rejected) tuples; ``constant``: every byte of the lines that is not one
    of the three texts (the same in every record)."""

    def __init__(
        self,
        encode: Callable[[str, str, str], bytes],
        lines: Callable[[list[tuple[str, ...]]], bytes],
        constant: bytes,
    ) -> None:
        self.encode, self.lines, self.constant = encode, lines, constant

    def __call__(self, prompt: str, chosen: str, rejected: str) -> bytes:
        return self.encode(prompt, chosen, rejected)


def _escape_line_breaks(data: bytes) -> bytes:
    """As encode_json: the Unicode line breaks escaped (they are all non-ASCII)."""
    if not data.isascii():
        for char, escape in _LINE_BREAK_BYTES:
            if char in data:
                data = data.replace(char, escape)
    return data


def pair_encoder(shape: str, system_prompt: str) -> PairEncoder:
    """The record's rows in ``shape`` as ``encode_json`` writes them, one per line, for a plain
    prompt (``records.prompt_messages``: the project's system prompt when set, then the prompt
    as the one user turn), from its (prompt, chosen, rejected) texts."""
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

    def encode(prompt: str, chosen: str, rejected: str) -> bytes:
        line = template_format % in_order((dumps(prompt), dumps(chosen), dumps(rejected)))
        return _escape_line_breaks(line)

    # Many records: the template repeated (each copy ending in a line end) and formatted once
    # per slice of records with every text's JSON in order; the texts reordered and encoded by
    # C-level iteration (map, chain), no Python code run per record. Slices, because each
    # bytes object orjson returns holds a 4 kB buffer: a few hundred alive at once, not
    # thousands. The line breaks escaped once over all of them (a line break's bytes never
    # span two texts).
    line_format = template_format + b"\n"
    slice_format = line_format * ENCODE_SLICE
    chain_all = chain.from_iterable

    def lines(texts: list[tuple[str, ...]]) -> bytes:
        out = []
        for start in range(0, len(texts), ENCODE_SLICE):
            part = texts[start : start + ENCODE_SLICE]
            many = slice_format if len(part) == ENCODE_SLICE else line_format * len(part)
            out.append(many % tuple(map(dumps, chain_all(map(in_order, part)))))
        return _escape_line_breaks(b"".join(out))

    # Placeholders apart, NUL-separated: no hint of the scanner spans two of the parts.
    return PairEncoder(encode, lines, b"\x00".join(parts))
