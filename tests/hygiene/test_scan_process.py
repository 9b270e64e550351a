"""The personal data scan in a helper process: the same findings and redactions as in this
process, batch by batch in order, and the same when the child cannot start or dies."""

import random

import orjson
import pytest

from hygiene import pii, scan_process
from hygiene.pii import RowScanner, Unscanned
from hygiene.scan_process import ScanProcess

PIECES = [
    "word ",
    "1",
    "234",
    " ",
    "-",
    "_",
    "AKIA",
    "\u00e9",
    "\n",
    "jane@example.com ",
    "+1 212-555-0198 ",
    "4111 1111 1111 1111 ",
    "4111 1111 1111 1112 ",
]


def batches(count: int, size: int, seed: int = 20261205) -> list[list[bytes]]:
    rng = random.Random(seed)
    return [
        [
            orjson.dumps({"text": "".join(rng.choices(PIECES, k=rng.randrange(0, 12)))})
            for _ in range(size)
        ]
        for _ in range(count)
    ]


def helper_for(scanner: RowScanner) -> ScanProcess:
    return ScanProcess(scanner.scan_batch, region="US", redact=scanner.redact)


@pytest.mark.parametrize("redact", [False, True])
def test_the_child_answers_each_batch_in_order_as_this_process_would(redact):
    work = batches(30, 40)
    scanner = RowScanner(redact=redact)
    helper = helper_for(scanner)
    try:
        assert helper.running
        answers = []
        for index, batch in enumerate(work):
            helper.submit(batch)
            if index >= 2:  # two batches ahead, as the export keeps them
                answers.append(helper.result())
        answers.extend(helper.result() for _ in range(2))
        assert helper.running
    finally:
        helper.close()

    expected = [scanner.scan_batch(batch) for batch in work]
    assert answers == expected
    found = [entry for answer in expected for entry in answer]
    assert 0 < len(found) < 30 * 40  # rows with findings and rows without
    assert {t for _, types, _ in found for t in types} == {"EMAIL", "PHONE", "CARD"}
    assert all((row is not None) == redact for _, _, row in found)


def test_a_child_that_dies_leaves_its_batches_to_this_process():
    work = batches(6, 30, seed=7)
    scanner = RowScanner()
    helper = helper_for(scanner)
    try:
        helper.submit(work[0])
        first = helper.result()
        for batch in work[1:4]:
            helper.submit(batch)
        helper._child.kill()
        helper._child.wait()
        later = [helper.result() for _ in range(3)]
        helper.submit(work[4])
        helper.submit(work[5])
        last = [helper.result(), helper.result()]
    finally:
        helper.close()

    assert not helper.running
    assert [first, *later, *last] == [scanner.scan_batch(batch) for batch in work]


def test_a_child_that_cannot_start_leaves_everything_to_this_process(monkeypatch):
    monkeypatch.setattr(scan_process.sys, "executable", "/nonexistent/python")
    work = batches(3, 20, seed=3)
    scanner = RowScanner()
    helper = helper_for(scanner)
    assert not helper.running
    for batch in work:
        helper.submit(batch)
    assert [helper.result() for _ in work] == [scanner.scan_batch(b) for b in work]


@pytest.mark.parametrize(
    "answer",
    [b'{"a": 1}', b"[[0]]", b'[[5, ["EMAIL"], null]]', b"[[1, [], null], [0, [], null]]"],
)
def test_an_answer_out_of_its_batch_is_refused_and_the_batch_scanned_here(answer):
    rows = [orjson.dumps({"text": "mail jane@example.com"}), b'{"text":"plain"}']
    with pytest.raises(ValueError):
        scan_process._checked(orjson.loads(answer), rows)


def test_close_ends_the_child():
    helper = helper_for(RowScanner())
    child = helper._child
    helper.submit(batches(1, 5)[0])
    helper.close()
    assert child.poll() is not None
    assert not helper.running


# --- RowScanner.scan_stream -------------------------------------------------------------


def stream(rows: list[dict]) -> list:
    """Rows to scan, with a marker (passed through) after every seventh."""
    items: list = []
    for index, row in enumerate(rows):
        items.append(Unscanned(index, row, orjson.dumps(row)))
        if index % 7 == 6:
            items.append(("marker", index))
    return items


@pytest.mark.parametrize("redact", [False, True])
def test_scan_stream_gives_the_same_rows_in_order_with_or_without_the_helper(monkeypatch, redact):
    monkeypatch.setattr(pii, "BATCH_ROWS", 4)
    rng = random.Random(11)
    texts = [
        "plain words",
        "mail jane@example.com",
        "call +1 212-555-0198",
        "card 4111 1111 1111 1111",
        "numbers 12 34",
        "not a card 4111 1111 1111 1112",
    ]
    rows = [{"messages": [{"content": rng.choice(texts)}]} for _ in range(101)]
    here = RowScanner(redact=redact)
    helped = RowScanner(redact=redact, process_after=10)

    expected = list(here.scan_stream(stream(rows)))
    got = list(helped.scan_stream(stream(rows)))

    assert got == expected
    assert helped.summary() == here.summary()
    assert here.summary()["rows_scanned"] == 101
    assert set(here.summary()["findings"]) == {"EMAIL", "PHONE", "CARD"}
    # Each item in its place: a marker as it came, a row as its bytes, or redacted.
    for item, out in zip((i for i in stream(rows)), got, strict=True):
        if type(item) is not Unscanned:
            assert out == item
        elif redact and any(
            t in item.row["messages"][0]["content"] for t in ("@", "+1", "4111 1111 1111 1111")
        ):
            assert out == {
                "messages": [{"content": pii.Scanner().redact(item.row["messages"][0]["content"])}]
            }
        else:
            assert out == item.encoded
