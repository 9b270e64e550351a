"""The personal data scanner: true positives and true negatives per type, redaction."""

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hygiene import pii

scanner = pii.Scanner(region="US")

POSITIVES = [
    (
        pii.EMAIL,
        "Write to jane.doe+news@mail.example.co.uk today",
        "jane.doe+news@mail.example.co.uk",
    ),
    (pii.EMAIL, "contact: ops@example.org.", "ops@example.org"),
    (pii.PHONE, "Call me on +44 20 7946 0958 tomorrow", "+44 20 7946 0958"),
    (pii.PHONE, "our office: (415) 555-2671", "(415) 555-2671"),
    (pii.PHONE, "Tel. +1 212-555-0198, ask for Sam", "+1 212-555-0198"),
    (pii.CARD, "card 4111 1111 1111 1111 exp 12/29", "4111 1111 1111 1111"),
    (pii.CARD, "pay with 5500-0000-0000-0004 please", "5500-0000-0000-0004"),
    (pii.CARD, "amex 378282246310005", "378282246310005"),
    (pii.IBAN, "IBAN GB82 WEST 1234 5698 7654 32 (UK)", "GB82 WEST 1234 5698 7654 32"),
    (pii.IBAN, "send to DE89370400440532013000", "DE89370400440532013000"),
    (pii.SSN, "SSN 123-45-6789 on file", "123-45-6789"),
    (pii.API_KEY, "aws AKIAIOSFODNN7EXAMPLE key", "AKIAIOSFODNN7EXAMPLE"),
    (pii.API_KEY, "token ghp_" + "a1B2" * 9 + " here", "ghp_" + "a1B2" * 9),
    (pii.API_KEY, "OPENAI_API_KEY=sk-proj-" + "Ab3_" * 10, "sk-proj-" + "Ab3_" * 10),
    (
        pii.API_KEY,
        "stripe sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    ),
    (pii.API_KEY, "-----BEGIN RSA PRIVATE KEY-----\nMIIE", "-----BEGIN RSA PRIVATE KEY-----"),
]

NEGATIVES = [
    (pii.EMAIL, "use the @decorator syntax; email me at jane at example dot com"),
    (pii.EMAIL, "user@localhost is not an address with a domain"),
    (pii.PHONE, "The year 2024 had 365 days and 12 months"),
    (pii.PHONE, "version 1.2.3.4 and order 555-12"),
    (pii.CARD, "card 4111 1111 1111 1112 fails Luhn"),
    (pii.CARD, "0000 0000 0000 0000 is no card"),
    (pii.CARD, "the id 1234567890123 is not Luhn-valid"),
    (pii.IBAN, "GB82 WEST 1234 5698 7654 33 has bad check digits"),
    (pii.IBAN, "ABCDEFGHIJKLMNOP is just capitals"),
    (pii.SSN, "000-12-3456 and 666-12-3456 and 900-12-3456 are never issued"),
    (pii.SSN, "123-00-4567 and 123-45-0000 neither"),
    (pii.API_KEY, "sk-short and AKIA123 and ghp_tooshort"),
]


@pytest.mark.parametrize(("kind", "text", "value"), POSITIVES)
def test_each_type_is_found(kind, text, value):
    found = [(f.type, f.text) for f in scanner.scan(text)]
    assert (kind, value) in found


@pytest.mark.parametrize(("kind", "text"), NEGATIVES)
def test_lookalikes_are_not_flagged(kind, text):
    assert [f for f in scanner.scan(text) if f.type == kind] == []


def test_text_without_personal_data_has_no_finding():
    assert scanner.scan("Explain recursion to a ten year old, in 3 short paragraphs.") == []


def test_redaction_puts_a_placeholder_per_type():
    text = "Mail a@b.io or call +44 20 7946 0958; card 4111 1111 1111 1111; SSN 123-45-6789"
    assert scanner.redact(text) == "Mail [EMAIL] or call [PHONE]; card [CARD]; SSN [SSN]"


def test_national_numbers_follow_the_region():
    text = "ring 020 7946 0958"
    assert [f.type for f in pii.Scanner(region="GB").scan(text)] == [pii.PHONE]
    assert pii.Scanner(region="US").scan(text) == []


def test_luhn_and_iban_checks():
    assert pii.luhn_valid("79927398713")
    assert not pii.luhn_valid("79927398710")
    assert pii.iban_valid("GB82WEST12345698765432")
    assert not pii.iban_valid("GB82WEST12345698765431")


def test_the_row_scanner_counts_by_type_with_item_ids_and_redacts_every_string():
    rows = pii.RowScanner(redact=True)
    row = {
        "messages": [
            {"role": "user", "content": "I am bob@example.com"},
            {"role": "assistant", "content": "Noted, bob@example.com."},
        ],
        "label": True,
    }
    out = rows(7, row)
    rows(8, {"messages": [{"role": "user", "content": "card 4111111111111111"}], "label": False})
    rows(9, {"messages": [{"role": "user", "content": "nothing here"}], "label": False})

    assert out["messages"][0]["content"] == "I am [EMAIL]"
    assert out["messages"][1]["content"] == "Noted, [EMAIL]."
    assert out["label"] is True
    assert row["messages"][0]["content"] == "I am bob@example.com"  # the input is not changed
    summary = rows.summary()
    assert summary["findings"] == {"CARD": 1, "EMAIL": 2}
    assert summary["item_ids"] == {"CARD": [8], "EMAIL": [7]}
    assert summary["redacted"] is True
    assert summary["rows_scanned"] == 3


def test_without_redaction_rows_are_written_as_they_are():
    rows = pii.RowScanner(redact=False)
    row = {"text": "bob@example.com"}
    assert rows(1, row) == row
    assert rows.summary()["findings"] == {"EMAIL": 1}


# Pieces of every shape the row hint looks for, and of the characters around them.
_PIECES = [
    "1", "23", "4567", " ", "-", "(", ")", ".", "/", "@", "_", "A", "KIA", "Iza", "gh", "p_",
    "github_pat_", "glpat-", "xox", "b-", "sk-", "sk_", "rk_", "live_", "test_", "-----BEGIN",
    "word", "\u00e9", "\u2028", "\n", '"', "\\", "\x00", "\x01",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(*[st.lists(st.sampled_from(_PIECES), max_size=12).map("".join)] * 3),
        min_size=1,
        max_size=8,
    )
)
def test_many_rows_are_hinted_exactly_where_each_rows_hint_matches(texts):
    """``hinted`` (byte tests over many rows' JSON, then the hint over their texts) finds the
    rows whose own texts the row hint matches, no more, no fewer."""
    constant = b'{"a_b-c":[,,]}\n'
    encoded = b"".join(b'{"a_b-c":[%b]}\n' % b",".join(map(orjson.dumps, t)) for t in texts)

    found = pii.hinted(encoded, texts, constant, len(texts))

    assert found == [i for i, t in enumerate(texts) if pii._HINT.search("\x00".join(t))]


def test_the_byte_tests_pass_rows_without_any_shape_and_stop_at_each_shape():
    plain = [("How are you today?", "Fine, thanks: all good.", "Not great (tired).")]
    assert pii.hinted(orjson.dumps(plain), plain) == []
    for text in ("a@b", "AKIA", "AIza", "ghp_", "sk-x", "glpat-", "-----BEGIN", "415 555 0132"):
        rows = [*plain, ("x", text, "y")]
        assert pii.hinted(orjson.dumps(rows), rows) == [1], text
