"""On PostgreSQL a report reads its rows through ``COPY ... TO STDOUT`` parsed into numpy
columns (agreement.reader.copied_columns); on SQLite, and with READ_WITH_COPY off, through
tuples. Both give the same report, bit for bit, on data with every kind, gold, missing and
unknown values, and category texts that CSV must quote."""

import itertools
import math
import random
from dataclasses import asdict

import pytest

from agreement import reader, services
from agreement.engine import Columns
from annotation import kinds
from annotation.models import Annotation, Item, Role
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory, annotate

pytestmark = pytest.mark.usefixtures("require_postgres")

# Categories whose text the CSV must carry whole: non-ASCII, quotes and commas, a tab, a
# newline, a backslash, COPY's text-format NULL and end marker, the word NULL, the empty text.
CATEGORIES = [
    "résumé",
    "中文 翻译",
    'say "hi", then go',
    "tab\there",
    "line\nbreak",
    "back\\slash",
    "\\N",
    "\\.",
    "NULL",
    "",
    "🎉 party",
    "other",
]
HARM = ["none", "violence", "ünïcödé harm", "privacy, mostly"]
ORDERS = ["AB", "BA", ""]


def _payload(kind: str, rng: random.Random, project, category: str = "other") -> dict:
    if kind == kinds.PREFERENCE:
        payload: dict = {"rating": rng.randint(-3, 3)}
        criteria = {name: rng.randint(-3, 3) for name in project.criteria if rng.random() < 0.6}
        if criteria:  # some annotations rate no criterion: missing values
            payload["criteria"] = criteria
        return payload
    if kind == kinds.REFUSAL:
        return {
            "decision": rng.choice(["refuse", "comply", "partial"]),
            "response": "A reply.",
            "harm_category": rng.choice(HARM),
        }
    if kind == kinds.INSTRUCTION:
        return {"response": "A response.", "category": category}
    scores = {
        c["name"]: rng.random() < 0.5 if c["scale"] == "pass_fail" else rng.randint(1, 5)
        for c in project.rubric
    }
    return {"scores": scores}


@pytest.fixture
def varied(db):
    """A project of all four kinds: 3 annotators per item at most (some items get 1 or 2),
    gold items of three kinds, seconds missing on some, display orders of each sort; then
    categories and a harm category dropped from the project after use (read back as observed
    values) and a few payloads rewritten to values outside the lists or to none at all."""
    project = ProjectFactory(
        kinds=[kinds.PREFERENCE, kinds.REFUSAL, kinds.INSTRUCTION, kinds.RUBRIC],
        categories=CATEGORIES,
        harm_categories=HARM,
        annotations_per_item=3,
        agreement_every=0,
    )
    people = []
    for name in ["ann", "Bøb", "陳", "<em>dee</em>"]:
        user = UserFactory(username=name)
        MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
        people.append(user)
    rng = random.Random(16)
    categories = itertools.cycle(CATEGORIES)  # every one used, most more than once
    for kind in [kinds.PREFERENCE, kinds.REFUSAL, kinds.INSTRUCTION, kinds.RUBRIC]:
        for n in range(9):
            gold = kind != kinds.RUBRIC and n % 4 == 3
            answer = _payload(kind, rng, project) if gold else None
            item = ItemFactory(project=project, kind=kind, is_gold=gold, gold=answer)
            for person in rng.sample(people, rng.choice([1, 2, 3, 3])):
                annotate(
                    item,
                    person,
                    _payload(kind, rng, project, next(categories)),
                    display_order=rng.choice(ORDERS) if kind == kinds.PREFERENCE else "",
                    seconds=None if rng.random() < 0.2 else round(rng.uniform(0.5, 300), 3),
                )
    project.categories = [c for c in CATEGORIES if c not in ("résumé", "\\N")]
    project.harm_categories = [h for h in HARM if h != "ünïcödé harm"]
    project.save()
    odd = list(Annotation.objects.filter(project=project, item__is_gold=False).order_by("id"))
    preference = [a for a in odd if a.item.kind == kinds.PREFERENCE]
    instruction = [a for a in odd if a.item.kind == kinds.INSTRUCTION]
    refusal = [a for a in odd if a.item.kind == kinds.REFUSAL]
    rewrites = [
        (preference[0], {"rating": 9}),  # outside the scale
        (preference[1], {"rating": 2.5}),
        (preference[2], {"rating": None, "criteria": {"honesty": 1}}),
        (instruction[0], {"response": "A response.", "category": None}),
        (refusal[0], {"response": "A reply.", "harm_category": "none"}),  # no decision
    ]
    for annotation, payload in rewrites:
        Annotation.objects.filter(pk=annotation.pk).update(payload=payload)
    assert Item.objects.filter(project=project, is_gold=True).count() == 6
    return project


def test_values_dropped_from_the_lists_are_read_back_for_each_kind(varied):
    fields = {f.key: f for specs in reader.report_fields(varied).values() for f in specs}
    assert fields["instruction.category"].values[-2:] == ("\\N", "résumé")
    assert fields["refusal.harm_category"].values[-1] == "ünïcödé harm"
    assert "ünïcödé harm" not in fields["instruction.category"].values


def report(project, monkeypatch, *, copy: bool, batch_rows=None, block_rows=None) -> dict:
    monkeypatch.setattr(reader, "READ_WITH_COPY", copy)
    if batch_rows:
        monkeypatch.setattr(reader, "BATCH_ROWS", batch_rows)
    if block_rows:
        monkeypatch.setattr(reader, "COPY_BLOCK_ROWS", block_rows)
    return asdict(services._compute(project))


def test_copy_and_tuples_give_one_report(varied, monkeypatch):
    copied = report(varied, monkeypatch, copy=True)
    tuples = report(varied, monkeypatch, copy=False)
    assert copied == tuples  # exactly: the same batches in the same order
    fields = copied["fields"]
    assert {key.split(".")[0] for key in fields} == {
        "preference",
        "refusal",
        "instruction",
        "rubric",
    }
    # The data reach the corners the test is for: a dropped category read back as observed,
    # unknown values noted, several annotators with gold answers and position choices.
    assert fields["instruction.category"]["annotations"] > 0
    assert any("outside the project's lists" in n for n in fields["preference.rating"]["notes"])
    assert sum(row["gold_answers"] for row in copied["annotators"]) > 0
    assert sum(row["position_choices"] for row in copied["annotators"]) > 0


@pytest.mark.parametrize(("batch_rows", "block_rows"), [(1, 1), (2, 3), (5, 2), (7, 64)])
def test_copy_gives_the_tuples_report_whatever_the_block_and_batch(
    varied, monkeypatch, batch_rows, block_rows
):
    tuples = report(varied, monkeypatch, copy=False, batch_rows=batch_rows)
    copied = report(varied, monkeypatch, copy=True, batch_rows=batch_rows, block_rows=block_rows)
    assert copied == tuples


def _rows(columns: Columns) -> list[tuple]:
    """Columns back into the tuples annotation_rows gives on PostgreSQL."""

    def values(coded):
        return [None if i < 0 else coded.labels[i] for i in coded.index.tolist()]

    return list(
        zip(
            columns.item.tolist(),
            columns.annotator.tolist(),
            values(columns.kind),
            columns.gold.tolist(),
            values(columns.order),
            [None if math.isnan(s) else s for s in columns.seconds.tolist()],
            [None if c < 0 else bool(c) for c in columns.correct.tolist()],
            *(values(v) for v in columns.values),
            strict=True,
        )
    )


def test_copied_columns_hold_the_values_of_the_cursor_rows(varied, monkeypatch):
    """Every value as the server-side cursor gives it: texts with quotes, commas, tabs,
    newlines, backslashes and non-ASCII letters whole, an empty text apart from NULL, seconds
    to the last bit."""
    monkeypatch.setattr(reader, "COPY_BLOCK_ROWS", 5)
    paths = [("rating",), ("criteria", "honesty"), ("decision",), ("category",), ("scores",)]
    paths.append(("scores", "overall"))
    with reader.snapshot():
        expected = list(reader.annotation_rows(varied, paths))
        copied = [row for chunk in reader.copied_columns(varied, paths) for row in _rows(chunk)]
    assert copied == expected
    assert {row[10] for row in expected} == {*CATEGORIES, None}


def test_an_empty_project_reads_no_rows(monkeypatch):
    project = ProjectFactory()
    assert list(reader.copied_columns(project, [("rating",)])) == []
    assert report(project, monkeypatch, copy=True) == report(project, monkeypatch, copy=False)


@pytest.mark.parametrize("ahead", [True, False])
def test_a_read_stopped_early_leaves_the_connection_usable(varied, monkeypatch, ahead):
    """A build that fails halfway (the generator closed with blocks still to come, one perhaps
    being read by the helper thread) ends the COPY; the connection works on."""
    monkeypatch.setattr(reader, "COPY_BLOCK_ROWS", 3)
    monkeypatch.setattr(reader, "COPY_READ_AHEAD", ahead)
    chunks = reader.copied_columns(varied, [("rating",)])
    assert len(next(chunks)) == 3
    chunks.close()
    assert Annotation.objects.filter(project=varied).count() > 3
