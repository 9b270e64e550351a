import pytest

from annotation import kinds
from annotation.kinds import Vocabulary, validate_item_data, validate_item_row, validate_payload
from tests.factories import item_row

V = Vocabulary()


def fields(errors):
    return {e["field"] for e in errors}


@pytest.mark.parametrize("kind", kinds.KINDS)
def test_a_well_formed_item_of_each_kind_is_valid(kind):
    item, errors = validate_item_row(item_row(kind), V)
    assert errors == []
    assert item.kind == kind


def test_prompt_and_messages_together_are_rejected():
    errors = validate_item_data("instruction", {"prompt": "a", "messages": []}, V)
    assert fields(errors) == {"data.prompt"}


def test_conversation_must_end_with_a_user_message():
    data = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    assert fields(validate_item_data("instruction", data, V)) == {"data.messages"}


def test_message_with_unknown_role_is_rejected():
    data = {"messages": [{"role": "robot", "content": "hi"}]}
    assert "data.messages[0].role" in fields(validate_item_data("instruction", data, V))


def test_preference_needs_exactly_two_distinct_responses():
    one = {"prompt": "p", "responses": [{"text": "a"}]}
    same = {"prompt": "p", "responses": [{"text": "a"}, {"text": "a"}]}
    assert fields(validate_item_data("preference", one, V)) == {"data.responses"}
    assert fields(validate_item_data("preference", same, V)) == {"data.responses"}


def test_unknown_data_key_points_to_metadata():
    errors = validate_item_data("refusal", {"prompt": "p", "source": "x"}, V)
    assert errors == [
        {
            "field": "data.source",
            "message": "Unknown field. Put free-form values in the item's metadata.",
        }
    ]


def test_category_outside_the_project_list_is_rejected():
    vocabulary = Vocabulary(categories=("code",))
    errors = validate_item_data("instruction", {"prompt": "p", "category": "poetry"}, vocabulary)
    assert fields(errors) == {"data.category"}


@pytest.mark.parametrize("text", ["a\x00b", "lone \ud800 surrogate"])
def test_text_postgres_cannot_store_is_rejected_with_a_clear_message(text):
    errors = validate_item_data("instruction", {"prompt": text}, V)
    assert errors[0]["message"] == kinds.UNSTORABLE_MESSAGE


def test_every_problem_of_a_row_is_reported_at_once():
    row = {"external_id": "", "kind": "preference", "data": {"responses": []}, "priority": "high"}
    errors = validate_item_row(row, V)[1]
    assert {"external_id", "data.prompt", "data.responses", "priority"} <= fields(errors)


def test_integer_external_id_is_accepted_as_text():
    item, errors = validate_item_row({**item_row("refusal"), "external_id": 42}, V)
    assert errors == [] and item.external_id == "42"


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("instruction", {"response": "Done.", "category": "code"}),
        ("preference", {"rating": -3, "criteria": {"honesty": 2}, "rationale": "A is right"}),
        ("preference", {"rating": 0}),
        (
            "refusal",
            {"decision": "partial", "response": "Here is the safe part.", "harm_category": "none"},
        ),
    ],
)
def test_valid_payloads(kind, payload):
    assert validate_payload(kind, payload, V) == []


@pytest.mark.parametrize(
    ("kind", "payload", "bad"),
    [
        ("instruction", {"response": "", "category": "code"}, "response"),
        ("instruction", {"response": "x", "category": "poetry"}, "category"),
        ("preference", {"rating": 4}, "rating"),
        ("preference", {"rating": True}, "rating"),
        ("preference", {"rating": 1.5}, "rating"),
        ("preference", {"rating": 1, "criteria": {"speed": 1}}, "criteria.speed"),
        ("preference", {"rating": 1, "criteria": {"honesty": -4}}, "criteria.honesty"),
        ("refusal", {"decision": "maybe", "response": "x", "harm_category": "none"}, "decision"),
        ("refusal", {"decision": "refuse", "response": "x"}, "harm_category"),
        ("refusal", {"decision": "refuse", "response": "x", "harm_category": "none", "x": 1}, "x"),
    ],
)
def test_invalid_payloads_name_the_field(kind, payload, bad):
    assert bad in fields(validate_payload(kind, payload, V))


def test_gold_answer_needs_only_the_scored_field():
    assert validate_payload("refusal", {"decision": "refuse"}, V, gold=True) == []
    assert fields(validate_payload("instruction", {"response": "x"}, V, gold=True)) == {"category"}


def test_split_from_external_id_is_stable_and_follows_the_fraction():
    ids = [f"id-{n}" for n in range(4000)]
    first = [kinds.split_for(i, 0.25) for i in ids]
    assert first == [kinds.split_for(i, 0.25) for i in ids]
    assert 0.22 < first.count("eval") / len(ids) < 0.28
    assert all(kinds.split_for(i, 0) == "train" for i in ids[:100])


def test_preference_content_hash_distinguishes_response_pairs_of_one_prompt():
    a = {"prompt": "p", "responses": [{"text": "x"}, {"text": "y"}]}
    b = {"prompt": "p", "responses": [{"text": "x"}, {"text": "z"}]}
    assert kinds.content_hash("preference", a) != kinds.content_hash("preference", b)
    assert kinds.content_hash("preference", a) == kinds.content_hash(
        "preference", {**a, "responses": [{"text": "x", "model": "m"}, {"text": "y"}]}
    )


SHOWN = {
    # kind: (data beyond the prompt, what pages show of it: (key, label, text, note))
    "instruction": (
        {"context": "The text.", "draft": "A draft.", "category": "summarization"},
        [
            ("context", "Context", "The text.", False),
            ("draft", "Draft answer", "A draft.", False),
            ("category", "Category suggested at import", "summarization", True),
        ],
    ),
    "refusal": (
        {"harm_category": "privacy", "model_response": "Sure, here it is."},
        [
            ("harm_category", "Harm category suggested at import", "privacy", True),
            ("model_response", "What a model said", "Sure, here it is.", False),
        ],
    ),
    "rubric": (
        {"response": {"text": "An answer.", "model": "m-1"}, "reference": "The answer."},
        [
            ("response", "Response", "An answer.", False),
            ("reference", "Reference answer", "The answer.", False),
        ],
    ),
    "preference": ({"responses": [{"text": "a"}, {"text": "b"}]}, []),  # shown as sides
}


@pytest.mark.parametrize("kind", sorted(SHOWN))
def test_each_kind_says_what_pages_show_of_its_data(kind):
    data, expected = SHOWN[kind]
    shown = kinds.kind_get(kind).data_shown({"prompt": "Q?", **data})
    assert [(f.key, f.label, f.text, f.note) for f in shown] == expected
    assert {f.key for f in shown} <= kinds.kind_get(kind).data_fields
    assert kinds.kind_get(kind).data_shown({"prompt": "Q?"}) == []  # absent fields are left out


def test_every_kind_is_described_for_the_pages():
    assert sorted(SHOWN) == sorted(kinds.names())


@pytest.mark.parametrize("kind", kinds.KINDS)
def test_a_kinds_form_takes_its_own_fields_as_typed(kind):
    """The workspace form's values (what a draft keeps) are the kind's payload fields only,
    texts with the browser's CRLF line breaks as typed (LF)."""
    from django.http import QueryDict

    from annotation.models import Project

    post = QueryDict(mutable=True)
    every_field = {f for k in kinds.registry for f in k.payload_fields}
    for name in every_field:
        post[name] = "line one\r\nline two"
    post["criteria.helpfulness"] = "5"
    post["scores.helpfulness"] = "4"
    spec = kinds.kind_get(kind)
    values = spec.form_values(post, Project())
    assert values and set(values) <= spec.payload_fields
    assert all(values[name] == "line one\nline two" for name in spec.form_texts)


def test_a_preference_gives_leads_its_responses_as_imported_with_their_models():
    data = {"prompt": "Q?", "responses": [{"text": "a", "model": "m-1"}, {"text": "b"}]}
    assert kinds.kind_get("preference").responses(data) == [
        {"name": "A", "text": "a", "model": "m-1"},
        {"name": "B", "text": "b", "model": ""},
    ]
    others = [k for k in kinds.registry if not k.shows_sides]
    assert others and all(k.responses({"prompt": "Q?"}) == [] for k in others)
