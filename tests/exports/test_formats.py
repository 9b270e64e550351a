"""Export formats: row shapes, files that ``datasets`` loads, determinism, hashing, streaming.

Pure Python (no Django): run with ``-p no:django --noconftest`` or inside the project's suite.
"""

from __future__ import annotations

import hashlib
import io
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exports.formats import (
    FORMATS,
    SHAPES,
    ExportFormatError,
    ExportRecord,
    ExportRecordError,
    encode_json,
    format_get,
    write_export,
)
from exports.formats.schemas import parquet_schema
from exports.formats.writers import EncodedLines, write_json_array, write_jsonl

# No network here but the package registries: datasets must never try the Hub.
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"

# The formats of final records (the annotations format reads AnnotationRecords: its own tests
# are in tests/exports/test_annotations_export.py).
RECORD_FORMATS = {name: fmt for name, fmt in FORMATS.items() if not fmt.per_annotation}
RECORD_SHAPES = [shape for shape in SHAPES if shape in RECORD_FORMATS]
JSON_FORMATS = [name for name, fmt in RECORD_FORMATS.items() if fmt.container != "parquet"]
JSONL_FORMATS = [name for name, fmt in RECORD_FORMATS.items() if fmt.container == "jsonl"]
# (format, shape) for every file an export of final records can produce
ALL_OUTPUTS = [(name, None) for name in JSON_FORMATS] + [
    ("parquet", shape) for shape in RECORD_SHAPES
]

# emoji with a zero-width joiner, RTL marks around Hebrew, a combining accent, an RTL override, CJK,
# a flag (two regional indicators); Hebrew spelled with escapes so linters see no lookalikes.
UNICODE = "Hi 👩\u200d💻 \u200f\u05e9\u05dc\u05d5\u05dd\u200f e\u0301 \u202eRTL 日本語 🇫🇷"


def user(content):
    return {"role": "user", "content": content}


def asst(content):
    return {"role": "assistant", "content": content}


def system(content):
    return {"role": "system", "content": content}


def instruction(item_id=1, *, system_prompt="", final=None, **data):
    data.setdefault("prompt", "Summarise the text.")
    return ExportRecord(
        item_id=item_id,
        external_id=f"ins-{item_id}",
        kind="instruction",
        data=data,
        final=final or {"response": "A short summary.", "category": "summarization"},
        system_prompt=system_prompt,
    )


def preference(item_id=2, *, rating=-2, system_prompt="", **data):
    data.setdefault("prompt", "Which is kinder?")
    data.setdefault(
        "responses",
        [{"text": "Answer A", "model": "model-a"}, {"text": "Answer B", "model": "m-b"}],
    )
    return ExportRecord(
        item_id=item_id,
        external_id=f"pref-{item_id}",
        kind="preference",
        data=data,
        final={"rating": rating, "criteria": {"helpfulness": rating}, "rationale": "because"},
        system_prompt=system_prompt,
    )


def refusal(item_id=3, *, decision="refuse", response="I can't help with that.", **data):
    data.setdefault("prompt", "How do I pick a lock?")
    return ExportRecord(
        item_id=item_id,
        external_id=f"ref-{item_id}",
        kind="refusal",
        data=data,
        final={"decision": decision, "response": response, "harm_category": "illegal_activity"},
    )


def rubric(item_id=10, *, passed=True, helpfulness=4, **data):
    data.setdefault("prompt", "Write a haiku.")
    data.setdefault("response", {"text": "Leaves fall.", "model": "model-a"})
    final = {"scores": {"helpfulness": helpfulness, "overall": passed}, "rationale": "ok"}
    return ExportRecord(
        item_id=item_id, external_id=f"rub-{item_id}", kind="rubric", data=data, final=final
    )


def rows_of(format_name, record):
    return list(FORMATS[format_name].rows(record))


def export_bytes(format_name, records, *, shape=None, **options):
    buffer = io.BytesIO()
    result = write_export(format_name, records, buffer, shape=shape, **options)
    return buffer.getvalue(), result


def mixed_records():
    """Every kind, with and without system prompts, context and multi-turn conversations."""
    return [
        instruction(1, system="Be brief.", context="The text.", category="summarization"),
        instruction(
            4,
            system_prompt="Project prompt.",
            messages=[user("Hi"), asst("Hello!"), user("Translate 'chat'.")],
            final={"response": "cat", "category": "translation"},
        ),
        instruction(5, messages=[system("Own system."), user("2+2?")]),
        preference(2, rating=-3),
        preference(6, rating=2, system="Judge."),
        preference(7, rating=0),
        refusal(3, model_response="Sure, first you..."),
        refusal(8, decision="comply", response="Locksmiths use picks.", model_response="No."),
        refusal(9, decision="partial", response="In general terms..."),
        rubric(10, group="case-1", tags=["adversarial"]),
        rubric(11, passed=False, helpfulness=2, system="Be terse.", tags=["poetry"]),
    ]


def load_dataset(tmp_path, builder, path):
    import datasets

    return datasets.load_dataset(
        builder, data_files=str(path), split="train", cache_dir=str(tmp_path / "hf-cache")
    )


def column_types(dataset):
    schema = dataset.data.schema
    return {name: schema.field(name).type for name in schema.names}


# --- prompts and system prompts -----------------------------------------------------------


def test_trl_sft_row_is_system_then_user_then_final_response():
    record = instruction(system="Be brief.")

    assert rows_of("trl-sft", record) == [
        {
            "messages": [
                system("Be brief."),
                user("Summarise the text."),
                asst("A short summary."),
            ]
        }
    ]


def test_context_is_appended_to_the_last_user_turn_after_a_blank_line():
    record = instruction(prompt="Summarise the text.", context="Cats sleep a lot.")

    assert rows_of("trl-sft", record)[0]["messages"][0] == user(
        "Summarise the text.\n\nCats sleep a lot."
    )


def test_multi_turn_conversation_is_kept_as_is():
    conversation = [user("Hi"), asst("Hello! How can I help?"), user("Name a colour.")]
    record = instruction(messages=conversation, final={"response": "Blue.", "category": "other"})

    assert rows_of("trl-sft", record) == [{"messages": [*conversation, asst("Blue.")]}]


def test_item_system_prompt_beats_the_project_system_prompt():
    record = instruction(system="Item prompt.", system_prompt="Project prompt.")

    assert rows_of("trl-sft", record)[0]["messages"][0] == system("Item prompt.")


def test_project_system_prompt_is_used_when_the_item_has_none():
    record = instruction(system_prompt="Project prompt.")

    assert rows_of("trl-sft", record)[0]["messages"][0] == system("Project prompt.")


def test_no_system_message_when_neither_item_nor_project_sets_one():
    record = instruction()

    assert [m["role"] for m in rows_of("trl-sft", record)[0]["messages"]] == ["user", "assistant"]


def test_conversation_that_starts_with_a_system_message_gets_no_second_one():
    record = instruction(messages=[system("Own."), user("Hi")], system_prompt="Project prompt.")

    assert rows_of("trl-sft", record)[0]["messages"][:2] == [system("Own."), user("Hi")]


def test_messages_not_ending_with_a_user_turn_are_an_error_naming_the_item():
    record = instruction(messages=[user("Hi"), asst("Hello")])

    with pytest.raises(ExportRecordError, match="ins-1"):
        rows_of("trl-sft", record)


def test_rows_do_not_share_dicts_with_the_record_data():
    record = instruction(messages=[user("Hi")])

    rows_of("trl-sft", record)[0]["messages"][0]["content"] = "changed"

    assert record.data["messages"] == [user("Hi")]


# --- row shapes per format ------------------------------------------------------------------


def test_trl_prompt_completion_row_shape():
    record = instruction(system="Be brief.")

    assert rows_of("trl-prompt-completion", record) == [
        {
            "prompt": [system("Be brief."), user("Summarise the text.")],
            "completion": [asst("A short summary.")],
        }
    ]


def test_trl_preference_negative_rating_chooses_response_a():
    assert rows_of("trl-preference", preference(rating=-1)) == [
        {
            "prompt": [user("Which is kinder?")],
            "chosen": [asst("Answer A")],
            "rejected": [asst("Answer B")],
        }
    ]


def test_trl_preference_positive_rating_chooses_response_b():
    assert rows_of("trl-preference", preference(rating=3)) == [
        {
            "prompt": [user("Which is kinder?")],
            "chosen": [asst("Answer B")],
            "rejected": [asst("Answer A")],
        }
    ]


def test_trl_preference_leaves_ties_out():
    assert rows_of("trl-preference", preference(rating=0)) == []


def test_refused_refusal_with_model_response_gives_ideal_chosen_model_rejected():
    record = refusal(model_response="Sure, first you...", system="Be safe.")

    assert rows_of("trl-preference", record) == [
        {
            "prompt": [system("Be safe."), user("How do I pick a lock?")],
            "chosen": [asst("I can't help with that.")],
            "rejected": [asst("Sure, first you...")],
        }
    ]


def test_complied_refusal_with_model_response_gives_no_preference_row():
    record = refusal(decision="comply", response="Here is how.", model_response="No.")

    assert rows_of("trl-preference", record) == []


def test_refused_refusal_without_model_response_gives_no_preference_row():
    assert rows_of("trl-preference", refusal()) == []


def test_refusal_whose_model_response_is_the_ideal_refusal_gives_no_pair():
    record = refusal(response="I can't help.", model_response="I can't help.")

    assert rows_of("trl-preference", record) == []


def test_preference_with_rating_out_of_range_is_an_error():
    with pytest.raises(ExportRecordError, match="rating"):
        rows_of("trl-preference", preference(rating=5))


def test_trl_kto_gives_chosen_labelled_true_then_rejected_labelled_false():
    assert rows_of("trl-kto", preference(rating=2)) == [
        {"prompt": [user("Which is kinder?")], "completion": [asst("Answer B")], "label": True},
        {"prompt": [user("Which is kinder?")], "completion": [asst("Answer A")], "label": False},
    ]


def test_trl_kto_leaves_ties_out():
    assert rows_of("trl-kto", preference(rating=0)) == []


def test_trl_kto_refused_refusal_labels_ideal_true_and_model_response_false():
    record = refusal(model_response="Sure, first you...")

    assert rows_of("trl-kto", record) == [
        {
            "prompt": [user("How do I pick a lock?")],
            "completion": [asst("I can't help with that.")],
            "label": True,
        },
        {
            "prompt": [user("How do I pick a lock?")],
            "completion": [asst("Sure, first you...")],
            "label": False,
        },
    ]


def test_openai_chat_row_shape():
    record = refusal(decision="partial", response="In general terms...", system="Be safe.")

    assert rows_of("openai-chat", record) == [
        {
            "messages": [
                system("Be safe."),
                user("How do I pick a lock?"),
                asst("In general terms..."),
            ]
        }
    ]


def test_openai_dpo_row_shape():
    record = preference(rating=-2, system="Judge.")

    assert rows_of("openai-dpo", record) == [
        {
            "input": {"messages": [system("Judge."), user("Which is kinder?")]},
            "preferred_output": [asst("Answer A")],
            "non_preferred_output": [asst("Answer B")],
        }
    ]


def test_openai_dpo_takes_the_same_pairs_as_trl_preference():
    records = [r for r in mixed_records() if r.kind in FORMATS["openai-dpo"].kinds]
    trl = [row for r in records for row in rows_of("trl-preference", r)]
    dpo = [row for r in records for row in rows_of("openai-dpo", r)]

    assert len(trl) == 3
    assert [(r["chosen"], r["rejected"]) for r in trl] == [
        (r["preferred_output"], r["non_preferred_output"]) for r in dpo
    ]


def test_alpaca_row_puts_context_in_input():
    record = instruction(context="Cats sleep a lot.")

    assert rows_of("alpaca", record) == [
        {
            "instruction": "Summarise the text.",
            "input": "Cats sleep a lot.",
            "output": "A short summary.",
        }
    ]


def test_alpaca_single_turn_without_context_has_empty_input():
    assert rows_of("alpaca", instruction())[0]["input"] == ""


def test_alpaca_flattens_earlier_turns_then_context_into_input():
    record = instruction(
        messages=[user("Hi"), asst("Hello!"), user("Translate 'chat'.")], context="From French."
    )

    assert rows_of("alpaca", record)[0] == {
        "instruction": "Translate 'chat'.",
        "input": "User: Hi\n\nAssistant: Hello!\n\nFrom French.",
        "output": "A short summary.",
    }


def test_alpaca_leaves_system_prompts_out():
    record = instruction(messages=[system("Own."), user("Hi")], system_prompt="Project.")

    assert rows_of("alpaca", record)[0]["input"] == ""


def test_sharegpt_row_shape():
    record = instruction(system="Be brief.", context="Ctx.")

    assert rows_of("sharegpt", record) == [
        {
            "id": "ins-1",
            "conversations": [
                {"from": "system", "value": "Be brief."},
                {"from": "human", "value": "Summarise the text.\n\nCtx."},
                {"from": "gpt", "value": "A short summary."},
            ],
        }
    ]


def test_sharegpt_id_is_always_a_string():
    record = ExportRecord(42, 42, "instruction", {"prompt": "p"}, {"response": "r"})  # type: ignore[arg-type]

    assert rows_of("sharegpt", record)[0]["id"] == "42"


# --- files: datasets, consistency, unicode ----------------------------------------------------

MESSAGES_TYPE = parquet_schema("trl-sft").field("messages").type


@pytest.mark.parametrize(
    ("format_name", "expected"),
    [
        ("trl-sft", {"messages": MESSAGES_TYPE}),
        ("openai-chat", {"messages": MESSAGES_TYPE}),
        ("trl-prompt-completion", {"completion": MESSAGES_TYPE, "prompt": MESSAGES_TYPE}),
        (
            "trl-preference",
            {"chosen": MESSAGES_TYPE, "prompt": MESSAGES_TYPE, "rejected": MESSAGES_TYPE},
        ),
        ("trl-kto", {"completion": MESSAGES_TYPE, "label": pa.bool_(), "prompt": MESSAGES_TYPE}),
        (
            "openai-dpo",
            {
                "input": pa.struct([("messages", MESSAGES_TYPE)]),
                "non_preferred_output": MESSAGES_TYPE,
                "preferred_output": MESSAGES_TYPE,
            },
        ),
        (
            "sharegpt",
            {
                "conversations": pa.list_(
                    pa.struct([("from", pa.string()), ("value", pa.string())])
                ),
                "id": pa.string(),
            },
        ),
        ("alpaca", {"input": pa.string(), "instruction": pa.string(), "output": pa.string()}),
    ],
)
def test_json_file_loads_with_datasets_with_the_expected_columns(tmp_path, format_name, expected):
    path = tmp_path / f"export.{FORMATS[format_name].extension}"
    data, result = export_bytes(format_name, mixed_records())
    path.write_bytes(data)

    dataset = load_dataset(tmp_path, "json", path)

    assert dataset.num_rows == result.rows > 0
    assert column_types(dataset) == expected


def test_messages_load_as_a_list_of_content_role_strings(tmp_path):
    import datasets

    path = tmp_path / "sft.jsonl"
    path.write_bytes(export_bytes("trl-sft", mixed_records())[0])

    features = load_dataset(tmp_path, "json", path).features

    assert features["messages"].feature == {
        "content": datasets.Value("string"),
        "role": datasets.Value("string"),
    }


def test_kto_label_loads_as_bool(tmp_path):
    import datasets

    path = tmp_path / "kto.parquet"
    path.write_bytes(export_bytes("parquet", mixed_records(), shape="trl-kto")[0])

    dataset = load_dataset(tmp_path, "parquet", path)

    assert dataset.features["label"] == datasets.Value("bool")
    assert dataset["label"] == [True, False, True, False, True, False]


@pytest.mark.parametrize("shape", RECORD_SHAPES)
def test_parquet_loads_with_datasets_with_the_features_of_its_json_shape(tmp_path, shape):
    json_path = tmp_path / f"export.{FORMATS[shape].extension}"
    json_path.write_bytes(export_bytes(shape, mixed_records())[0])
    parquet_path = tmp_path / "export.parquet"
    parquet_bytes, result = export_bytes("parquet", mixed_records(), shape=shape)
    parquet_path.write_bytes(parquet_bytes)

    from_json = load_dataset(tmp_path / "json", "json", json_path)
    from_parquet = load_dataset(tmp_path / "parquet", "parquet", parquet_path)

    assert from_parquet.num_rows == result.rows > 0
    assert from_parquet.features == from_json.features
    assert from_parquet.to_list() == from_json.to_list()


def test_parquet_without_shape_writes_trl_sft_rows():
    data, result = export_bytes("parquet", mixed_records())

    assert result.shape == "trl-sft"
    assert pq.read_table(io.BytesIO(data)).schema == parquet_schema("trl-sft")


@pytest.mark.parametrize("format_name", JSONL_FORMATS)
def test_every_row_of_a_jsonl_file_has_the_same_keys_and_types(format_name):
    data, _ = export_bytes(format_name, mixed_records())
    rows = [json.loads(line) for line in data.decode("utf-8").splitlines()]

    def shape_of(value):
        if isinstance(value, dict):
            return {key: shape_of(v) for key, v in value.items()}
        if isinstance(value, list):
            return {repr(shape_of(v)) for v in value}
        return type(value).__name__

    assert len(rows) > 1
    assert all(shape_of(row) == shape_of(rows[0]) for row in rows)


def test_every_row_of_the_alpaca_array_has_the_same_keys():
    data, _ = export_bytes("alpaca", mixed_records())
    rows = json.loads(data)

    assert len(rows) > 1
    assert {tuple(sorted(row)) for row in rows} == {("input", "instruction", "output")}
    assert all(isinstance(value, str) for row in rows for value in row.values())


def unicode_records():
    return [
        instruction(prompt=UNICODE, system=UNICODE, final={"response": UNICODE, "category": "x"}),
        preference(prompt=UNICODE, responses=[{"text": UNICODE}, {"text": UNICODE + "!"}]),
        refusal(prompt=UNICODE, response=UNICODE, model_response=UNICODE + "?"),
        rubric(prompt=UNICODE, response={"text": UNICODE, "model": UNICODE}),
    ]


@pytest.mark.parametrize("format_name", JSON_FORMATS)
def test_unicode_survives_byte_exact_in_the_file(format_name):
    data, result = export_bytes(format_name, unicode_records())

    assert result.rows > 0
    assert UNICODE.encode("utf-8") in data


@pytest.mark.parametrize("shape", RECORD_SHAPES)
def test_unicode_survives_exactly_in_parquet(shape):
    data, result = export_bytes("parquet", unicode_records(), shape=shape)

    values = json.dumps(pq.read_table(io.BytesIO(data)).to_pylist(), ensure_ascii=False)
    assert result.rows > 0
    assert UNICODE in values


def test_json_is_sorted_compact_utf8_with_newline_line_ends():
    data, _ = export_bytes("trl-sft", [instruction(prompt="é")])

    assert (
        data
        == (
            '{"messages":[{"content":"é","role":"user"},'
            '{"content":"A short summary.","role":"assistant"}]}\n'
        ).encode()
    )


def test_alpaca_array_is_streamed_one_row_per_line():
    data, _ = export_bytes("alpaca", [instruction(1), instruction(2)])

    row = b'{"input":"","instruction":"Summarise the text.","output":"A short summary."}'
    assert data == b"[\n" + row + b",\n" + row + b"\n]\n"


def test_unicode_line_separators_are_escaped_and_decode_unchanged():
    text = "one\u2028two\u2029three\x85four"
    data, _ = export_bytes("trl-sft", [instruction(prompt=text)])

    assert data.count(b"\n") == 1
    assert len(data.decode("utf-8").splitlines()) == 1
    assert json.loads(data)["messages"][0]["content"] == text


@given(st.text())
def test_any_text_round_trips_through_jsonl_exactly(text):
    line = encode_json({"content": text})

    assert b"\n" not in line
    assert json.loads(line.decode("utf-8")) == {"content": text}


def test_rows_never_carry_model_names_or_annotator_info():
    record = ExportRecord(
        item_id=1,
        external_id="p",
        kind="preference",
        data={
            "prompt": "q",
            "responses": [{"text": "a", "model": "SECRET-MODEL-A"}, {"text": "b", "model": "M-B"}],
        },
        final={"rating": 1, "rationale": "SECRET-RATIONALE", "annotator": "SECRET-USER"},
    )

    for name, shape in ALL_OUTPUTS:
        data, _ = export_bytes(name, [record], shape=shape)
        assert b"SECRET" not in data
        assert b"M-B" not in data


# --- determinism and hashing --------------------------------------------------------------------


@pytest.mark.parametrize(("format_name", "shape"), ALL_OUTPUTS)
def test_same_records_twice_give_byte_identical_files(format_name, shape):
    first, first_result = export_bytes(format_name, mixed_records(), shape=shape)
    second, second_result = export_bytes(format_name, mixed_records(), shape=shape)

    assert first_result.rows > 0
    assert first == second
    assert first_result.sha256 == second_result.sha256


@pytest.mark.parametrize(("format_name", "shape"), ALL_OUTPUTS)
def test_returned_sha256_and_size_are_those_of_the_file(tmp_path, format_name, shape):
    path = tmp_path / "export.bin"
    with path.open("wb") as fileobj:
        result = write_export(format_name, mixed_records(), fileobj, shape=shape)

    data = path.read_bytes()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.bytes == len(data)


def test_parquet_writes_one_row_group_per_batch():
    records = [instruction(i) for i in range(5)]

    data, result = export_bytes("parquet", records, row_group_size=2)

    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    assert result.rows == 5
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [2, 2, 1]


def test_parquet_export_leaves_the_file_object_open():
    buffer = io.BytesIO()

    write_export("parquet", [instruction()], buffer)

    assert not buffer.closed


# --- skipping and counting ----------------------------------------------------------------------


def test_formats_skip_kinds_they_do_not_take_and_report_it():
    _, result = export_bytes("trl-sft", mixed_records())

    assert result.rows == 6
    assert result.counts_by_kind == {"instruction": 3, "refusal": 3}
    assert result.skipped == {"kind_not_taken": 5}
    assert result.skipped_by_kind == {"preference": 3, "rubric": 2}


def test_preference_export_reports_ties_and_unpaired_refusals_as_skipped():
    _, result = export_bytes("trl-preference", mixed_records())

    assert result.rows == 3
    assert result.counts_by_kind == {"preference": 2, "refusal": 1}
    assert result.skipped == {"kind_not_taken": 5, "tie": 1, "not_refused": 2}
    assert result.skipped_total == 8


def test_result_counts_records_by_kind_and_final_category():
    _, result = export_bytes("openai-chat", mixed_records())

    assert result.counts_by_category == {
        "instruction": {"summarization": 2, "translation": 1},
        "refusal": {"illegal_activity": 3},
    }


def test_kto_counts_a_preference_record_once_for_its_two_rows():
    _, result = export_bytes("trl-kto", [preference(rating=1)])

    assert (result.rows, result.records, result.counts_by_kind) == (2, 1, {"preference": 1})
    assert result.counts_by_category == {}


def test_registry_declares_kinds_container_extension_and_content_type():
    assert FORMATS["trl-sft"].kinds == {"instruction", "refusal"}
    assert FORMATS["trl-preference"].kinds == {"preference", "refusal"}
    assert (FORMATS["trl-kto"].extension, FORMATS["trl-kto"].content_type) == (
        "jsonl",
        "application/jsonl",
    )
    assert (FORMATS["alpaca"].container, FORMATS["alpaca"].extension) == ("json-array", "json")
    assert format_get("parquet", shape="trl-kto").kinds == {"preference", "refusal"}
    assert format_get("parquet", shape="trl-kto").content_type == "application/vnd.apache.parquet"


def test_unknown_format_is_an_error():
    with pytest.raises(ExportFormatError):
        write_export("csv", [], io.BytesIO())


def test_unknown_parquet_shape_is_an_error():
    with pytest.raises(ExportFormatError):
        write_export("parquet", [], io.BytesIO(), shape="csv")


def test_shape_given_to_a_json_format_is_an_error():
    with pytest.raises(ExportFormatError):
        write_export("trl-sft", [], io.BytesIO(), shape="trl-kto")


@pytest.mark.parametrize("write", [write_jsonl, write_json_array])
def test_rows_encoded_together_are_written_as_the_rows_they_hold(write):
    rows = [{"a": 1}, {"b": "x \u2028 y", "a": [1, 2]}, {"c": "caf\u00e9"}, {"d": None}]
    together = EncodedLines(b"".join(encode_json(row) + b"\n" for row in rows[1:3]), 2)
    one_by_one, mixed = io.BytesIO(), io.BytesIO()

    expected = write(rows, one_by_one)
    stats = write([rows[0], together, encode_json(rows[3])], mixed)

    assert stats == expected
    assert mixed.getvalue() == one_by_one.getvalue()


# --- empty exports, progress, streaming -----------------------------------------------------


@pytest.mark.parametrize("format_name", JSONL_FORMATS)
def test_empty_jsonl_export_is_an_empty_file(format_name):
    data, result = export_bytes(format_name, [])

    assert (data, result.rows, result.sha256) == (b"", 0, hashlib.sha256(b"").hexdigest())


def test_empty_alpaca_export_is_an_empty_json_array():
    data, result = export_bytes("alpaca", [])

    assert data == b"[]\n"
    assert json.loads(data) == []
    assert result.rows == 0


@pytest.mark.parametrize("shape", RECORD_SHAPES)
def test_empty_parquet_export_has_the_schema_and_no_rows(shape):
    data, result = export_bytes("parquet", [], shape=shape)

    table = pq.read_table(io.BytesIO(data))
    assert result.rows == table.num_rows == 0
    assert table.schema == parquet_schema(shape)


def test_on_progress_reports_records_read_and_rows_written():
    calls = []
    records = [preference(i, rating=1) for i in range(5)]

    write_export("trl-kto", records, io.BytesIO(), on_progress=lambda *a: calls.append(a))

    assert calls == [(5, 10)]


def test_on_progress_is_called_every_n_records_and_at_the_end():
    calls = []
    records = [instruction(i) for i in range(5)]

    write_export(
        "trl-sft", records, io.BytesIO(), on_progress=lambda *a: calls.append(a), progress_every=2
    )

    assert calls == [(2, 2), (4, 4), (5, 5)]


@pytest.mark.parametrize(("format_name", "shape"), [("trl-sft", None), ("parquet", "trl-sft")])
def test_export_writes_rows_before_it_has_read_every_record(format_name, shape):
    drawn = 0
    writes = []  # (records drawn so far, bytes in this write)

    def records():
        nonlocal drawn
        for i in range(40):
            drawn += 1
            yield instruction(i, prompt=f"{i} " + "words " * 40_000)

    class Recorder(io.BytesIO):
        def write(self, data):
            writes.append((drawn, len(data)))
            return super().write(data)

    write_export(format_name, records(), Recorder(), shape=shape, row_group_size=10)

    # More than Parquet's 4-byte leading magic reached the file before the last record was read.
    assert sum(size for count, size in writes if count < 40) > 4


def test_eval_results_has_one_row_per_rubric_record_with_its_final_scores():
    data, result = export_bytes("eval-results", mixed_records())
    rows = [json.loads(line) for line in data.decode().splitlines()]

    assert result.counts_by_kind == {"rubric": 2}
    assert rows[0] == {
        "id": "rub-10",
        "prompt": [{"role": "user", "content": "Write a haiku."}],
        "model": "model-a",
        "response": "Leaves fall.",
        "scores": {"helpfulness": 4, "overall": True},
        "group": "case-1",
        "tags": ["adversarial"],
    }
    assert rows[1]["group"] == "" and rows[1]["scores"]["overall"] is False


def test_trl_kto_takes_rubric_pass_fail_only_when_asked():
    _, plain_result = export_bytes("trl-kto", mixed_records())
    data, result = export_bytes("trl-kto", mixed_records(), pass_fail=True)
    rows = [json.loads(line) for line in data.decode().splitlines()]
    labelled = [r for r in rows if r["completion"][0]["content"] == "Leaves fall."]

    assert "rubric" not in plain_result.counts_by_kind
    assert result.counts_by_kind["rubric"] == 2
    assert [r["label"] for r in labelled] == [True, False]
    assert result.rows == plain_result.rows + 2


def test_pass_fail_applies_to_trl_kto_only():
    with pytest.raises(ExportFormatError):
        format_get("trl-sft", pass_fail=True)


def test_a_rubric_without_pass_fail_criteria_gives_no_kto_row():
    record = rubric(12)
    record = ExportRecord(
        item_id=12,
        external_id="rub-12",
        kind="rubric",
        data=record.data,
        final={"scores": {"helpfulness": 3}},
    )
    _, result = export_bytes("trl-kto", [record], pass_fail=True)

    assert result.rows == 0 and result.skipped == {"no_pass_fail": 1}
