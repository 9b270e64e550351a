"""Rules the database holds on its own, whatever code writes the rows."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.models import Annotation, Assignment, Item, Membership, Project
from review.models import FinalRecord
from tests.factories import ItemFactory, MembershipFactory, UserFactory


def violates(fn):
    with pytest.raises(IntegrityError), transaction.atomic():
        fn()


def test_external_id_is_unique_within_a_project(project):
    ItemFactory(project=project, external_id="x")
    violates(lambda: ItemFactory(project=project, external_id="x"))
    ItemFactory(external_id="x")  # another project may reuse it


def test_enum_columns_reject_unknown_values(project):
    item = ItemFactory(project=project)
    violates(lambda: Item.objects.filter(pk=item.pk).update(status="lost"))
    violates(lambda: Item.objects.filter(pk=item.pk).update(kind="essay"))
    violates(lambda: Item.objects.filter(pk=item.pk).update(split="dev"))
    member = MembershipFactory(project=project)
    violates(lambda: Membership.objects.filter(pk=member.pk).update(role="owner"))


def test_project_settings_ranges_are_checked(project):
    violates(lambda: Project.objects.filter(pk=project.pk).update(annotations_per_item=0))
    violates(lambda: Project.objects.filter(pk=project.pk).update(gold_rate=1.5))
    violates(lambda: Project.objects.filter(pk=project.pk).update(lease_seconds=5))


def test_a_gold_item_must_carry_its_answer(project):
    violates(lambda: ItemFactory(project=project, is_gold=True, gold=None))


def _assignment(item, user):
    now = timezone.now()
    return Assignment.objects.create(
        project=item.project, item=item, annotator=user, claimed_at=now, expires_at=now
    )


def test_one_annotation_and_one_assignment_per_item_and_annotator(project):
    item, user = ItemFactory(project=project), UserFactory()
    assignment = _assignment(item, user)
    violates(lambda: _assignment(item, user))
    Annotation.objects.create(
        project=project, item=item, annotator=user, assignment=assignment, payload={}
    )
    other = _assignment(ItemFactory(project=project), UserFactory())
    violates(
        lambda: Annotation.objects.create(
            project=project, item=item, annotator=user, assignment=other, payload={}
        )
    )


def test_an_item_has_one_current_final_record(project):
    item = ItemFactory(project=project)
    fields = {"item": item, "project": project, "kind": item.kind, "payload": {}}
    FinalRecord.objects.create(provenance="unanimous", **fields)
    violates(lambda: FinalRecord.objects.create(provenance="edited", **fields))
    FinalRecord.objects.create(provenance="edited", is_current=False, **fields)
