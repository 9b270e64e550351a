"""Fixtures for agreement reports: annotations written directly, and a hand-built project."""

from dataclasses import dataclass, field

import pytest

from annotation import kinds
from annotation.models import Project, Role
from tests.factories import (
    ItemFactory,
    MembershipFactory,
    ProjectFactory,
    UserFactory,
    annotate,
)


def member(project: Project, username: str, role: str = Role.ANNOTATOR):
    user = UserFactory(username=username)
    MembershipFactory(project=project, user=user, role=role)
    return user


def rated(rating: int, **criteria: int) -> dict:
    payload: dict = {"rating": rating}
    if criteria:
        payload["criteria"] = criteria
    return payload


@dataclass
class Seeded:
    """The hand-built preference project of the report tests (see `seeded` below)."""

    project: Project
    lead: object
    ann: object
    bob: object
    cy: object
    items: dict = field(default_factory=dict)


@pytest.fixture
def seeded(db) -> Seeded:
    """Three annotators on preference items, with figures worked out by hand in the tests.

    rating   p1 (agreed A)  p2 (disputed)  p3 (ties + B)  p4 (alone)  g1 (gold: A)
    ann      -2 AB 10s      +1 BA 20s      0 AB 30s       +3 AB 100s  -1 40s (correct)
    bob      -1 BA 20s      -1 AB 40s      0 BA 60s       .           +2 (wrong)
    cy       -2 AB 30s      .              +2 BA 60s      .           .
    helpfulness: p1 ann -2, bob -2; p2 ann +1, bob +1.
    """
    project = ProjectFactory(kinds=[kinds.PREFERENCE], agreement_every=0)
    seeded = Seeded(
        project=project,
        lead=member(project, "lead", Role.LEAD),
        ann=member(project, "ann"),
        bob=member(project, "bob"),
        cy=member(project, "<em>cy</em>"),
    )
    items = {
        name: ItemFactory(project=project, kind=kinds.PREFERENCE)
        for name in ["p1", "p2", "p3", "p4"]
    }
    items["g1"] = ItemFactory(
        project=project, kind=kinds.PREFERENCE, is_gold=True, gold={"rating": -2}
    )
    seeded.items = items
    ann, bob, cy = seeded.ann, seeded.bob, seeded.cy
    annotate(items["p1"], ann, rated(-2, helpfulness=-2), display_order="AB", seconds=10)
    annotate(items["p1"], bob, rated(-1, helpfulness=-2), display_order="BA", seconds=20)
    annotate(items["p1"], cy, rated(-2), display_order="AB", seconds=30)
    annotate(items["p2"], ann, rated(1, helpfulness=1), display_order="BA", seconds=20)
    annotate(items["p2"], bob, rated(-1, helpfulness=1), display_order="AB", seconds=40)
    annotate(items["p3"], ann, rated(0), display_order="AB", seconds=30)
    annotate(items["p3"], bob, rated(0), display_order="BA", seconds=60)
    annotate(items["p3"], cy, rated(2), display_order="BA", seconds=60)
    annotate(items["p4"], ann, rated(3), display_order="AB", seconds=100)
    annotate(items["g1"], ann, rated(-1), seconds=40)  # the gold side: correct
    annotate(items["g1"], bob, rated(2))  # the other side: wrong
    return seeded
