"""The row hint in a helper process: the same answers as in this process, in order, and the
same when the child cannot start or dies."""

import random

import orjson
import pytest

from hygiene import hint_process, pii
from hygiene.hint_process import HintProcess, rows_hinted
from hygiene.pii import RowScanner, Unscanned

PIECES = ["word ", "1", "234", " ", "-", "@", "_", "AKIA", "sk-", "(", ")", "\u00e9", "\n"]


def batches(count: int, size: int, seed: int = 20261205) -> list[list[bytes]]:
    rng = random.Random(seed)
    return [
        [
            orjson.dumps({"text": "".join(rng.choices(PIECES, k=rng.randrange(0, 30)))})
            for _ in range(size)
        ]
        for _ in range(count)
    ]


def test_the_child_answers_each_batch_in_order_as_this_process_would():
    work = batches(40, 50)
    helper = HintProcess(pii._ROW_HINT)
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

    expected = [rows_hinted(pii._ROW_HINT, batch) for batch in work]
    assert answers == expected
    hinted = sum(map(len, expected))
    assert 0 < hinted < 40 * 50  # both answers are tested


def test_a_child_that_dies_leaves_its_batches_to_this_process():
    work = batches(6, 30, seed=7)
    helper = HintProcess(pii._ROW_HINT)
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
    assert [first, *later, *last] == [rows_hinted(pii._ROW_HINT, batch) for batch in work]


def test_a_child_that_cannot_start_leaves_everything_to_this_process(monkeypatch):
    monkeypatch.setattr(hint_process.sys, "executable", "/nonexistent/python")
    work = batches(3, 20, seed=3)
    helper = HintProcess(pii._ROW_HINT)
    assert not helper.running
    for batch in work:
        helper.submit(batch)
    assert [helper.result() for _ in work] == [rows_hinted(pii._ROW_HINT, b) for b in work]


def test_close_ends_the_child():
    helper = HintProcess(pii._ROW_HINT)
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
    ]
    rows = [{"messages": [{"content": rng.choice(texts)}]} for _ in range(101)]
    here = RowScanner(redact=redact)
    helped = RowScanner(redact=redact, process_after=10)

    expected = list(here.scan_stream(stream(rows)))
    got = list(helped.scan_stream(stream(rows)))

    assert got == expected
    if not redact:  # each item in its place: its bytes, or its row where the hint matched
        assert got == [
            item
            if type(item) is not Unscanned
            else item.row
            if pii._ROW_HINT.search(item.encoded)
            else item.encoded
            for item in stream(rows)
        ]
    assert helped.summary() == here.summary()
    assert here.summary()["rows_scanned"] == 101
    assert here.summary()["findings"]  # the hint passed some rows to the full scan
    assert sum(1 for item in got if type(item) is tuple) == 101 // 7
    bytes_rows = [item for item in got if isinstance(item, bytes)]
    assert all(b"@" not in row for row in bytes_rows)  # rows with an address were walked
