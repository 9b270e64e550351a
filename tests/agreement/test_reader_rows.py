"""The report's rows come from a server-side cursor as plain tuples: the same tuples, in the
same order, as Django's row iterator gives for the same query."""

import pytest

from agreement import reader
from annotation.models import Annotation, Role
from tests.factories import ItemFactory, MembershipFactory, annotate

pytestmark = pytest.mark.usefixtures("require_postgres")

PATHS = [("rating",), ("criteria", "helpfulness"), ("decision",), ("category",)]


def test_annotation_rows_are_the_tuples_of_the_orm_query(project):
    project.annotations_per_item = 3
    project.save()
    people = [MembershipFactory(project=project, role=Role.ANNOTATOR).user for _ in range(3)]
    payloads = {
        "preference": [
            {"rating": -2, "criteria": {"helpfulness": 1}},
            {"rating": 3, "rationale": "B is right"},
            {"rating": 0},
        ],
        "refusal": [
            {"decision": "refuse", "response": "No.", "harm_category": "none"},
            {"decision": "comply", "response": "Sure.", "harm_category": "none"},
        ],
    }
    for kind, answers in payloads.items():
        for n in range(3):
            item = ItemFactory(project=project, kind=kind, is_gold=False)
            for person, payload in zip(people, answers, strict=False):
                annotate(item, person, payload, seconds=1.5 * n or None)
    expected = list(
        Annotation.objects.filter(project=project)
        .order_by("item_id", "id")
        .values_list(
            "item_id",
            "annotator_id",
            "item__kind",
            "item__is_gold",
            "display_order",
            "seconds_spent",
            "gold_correct",
            *(reader._payload_value(path) for path in PATHS),
        )
    )
    rows = list(reader.annotation_rows(project, PATHS))
    assert len(rows) == 15
    assert rows == expected
    assert all(isinstance(row, tuple) for row in rows)
