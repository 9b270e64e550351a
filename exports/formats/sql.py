"""Fixed-shape rows built in the database (PostgreSQL): the exact bytes ``encode_json`` writes.

For the preference shapes (``trl-preference``, ``openai-dpo``, ``trl-kto``) a record in the
plain shape, a ``prompt`` with neither ``messages``, ``context`` nor its own ``system``, and a
pair its kind can state in SQL (``Kind.pair_sql``), gets its JSON line from the SELECT itself,
so Python only copies bytes. Every other record (a conversation, context, a tie, a kind without
``pair_sql``, an unusual shape) gets NULL and is built by the format's row function in Python,
as before. ``tests/exports/test_export_golden.py`` holds both paths to the files the Python
path wrote.

The text is concatenated, not built by ``json_build_object``/``jsonb`` (whose text has a space
after every ``:`` and ``,``): keys in sorted order, no spaces, each string value through
``to_json(text)``, whose escaping is that of orjson (``\\"``, ``\\\\``, ``\\b\\f\\n\\r\\t``,
other controls as lowercase ``\\u00xx``, everything else as UTF-8), then the three Unicode
line breaks escaped as ``encode_json`` escapes them.
"""

from __future__ import annotations

from annotation import kinds

from .writers import encode_json

# Rows of a SQL line (trl-kto gives two, one per line of the text).
ROWS_PER_LINE = {"trl-preference": 1, "openai-dpo": 1, "trl-kto": 2}


def _string(sql: str) -> str:
    return f"to_json(({sql})::text)::text"


def _assistant(text: str) -> str:
    return f"""'[{{"content":' || {_string(text)} || ',"role":"assistant"}}]'"""


def _line(shape: str, prompt: str, chosen: str, rejected: str) -> str:
    if shape == "trl-preference":
        return (
            f"""'{{"chosen":' || {_assistant(chosen)} || ',"prompt":' || {prompt}"""
            f""" || ',"rejected":' || {_assistant(rejected)} || '}}'"""
        )
    if shape == "openai-dpo":
        return (
            f"""'{{"input":{{"messages":' || {prompt}"""
            f""" || '}},"non_preferred_output":' || {_assistant(rejected)}"""
            f""" || ',"preferred_output":' || {_assistant(chosen)} || '}}'"""
        )
    # trl-kto: the chosen reply labelled true, then the rejected one labelled false.
    return (
        f"""'{{"completion":' || {_assistant(chosen)} || ',"label":true,"prompt":' || {prompt}"""
        f""" || E'}}\\n{{"completion":' || {_assistant(rejected)}"""
        f""" || ',"label":false,"prompt":' || {prompt} || '}}'"""
    )


def _escape_line_breaks(sql: str) -> str:
    for code in (0x85, 0x2028, 0x2029):
        sql = f"replace({sql}, chr({code}), '\\u{code:04x}')"
    return sql


def line_sql(
    shape: str, taken: frozenset[str], system_prompt: str, *, data: str, final: str, kind: str
) -> tuple[str, list[str]] | None:
    """(SQL expression, its parameters) of a record's JSON line(s) in ``shape``, NULL where
    Python builds the rows; None when no record of the shape is built in SQL. ``data``,
    ``final`` and ``kind`` are the SQL expressions of the item's data, the final payload (both
    jsonb) and the item's kind; ``taken``, the kinds the format takes; ``system_prompt``, the
    project's."""
    if shape not in ROWS_PER_LINE:
        return None
    branches, params = [], []
    # The prompt side (records.prompt_messages) of a plain prompt: the project's system prompt
    # when set, then the prompt as the one user turn.
    system = ""
    if system_prompt:
        system = encode_json({"content": system_prompt, "role": "system"}).decode() + ","
    text = _string(f"{data} ->> 'prompt'")
    prompt = f"""'[' || %s || '{{"content":' || {text} || ',"role":"user"}}]'"""
    plain = (
        f"jsonb_typeof({data} -> 'prompt') = 'string'"
        f" AND NOT ({data} ? 'messages') AND NOT ({data} ? 'context') AND NOT ({data} ? 'system')"
    )
    for each in kinds.registry:
        pair = each.pair_sql(data, final) if each.name in taken else None
        if pair is None or each.coverage_field:  # a manifest category is counted in Python
            continue
        condition, chosen, rejected = pair
        line = _line(shape, prompt, chosen, rejected)
        branches.append(f"WHEN {kind} = %s AND {plain} AND {condition} THEN {line}")
        params.extend([each.name, *[system] * (2 if shape == "trl-kto" else 1)])
    if not branches:
        return None
    return _escape_line_breaks(f"(CASE {' '.join(branches)} END)"), params
