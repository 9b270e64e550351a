from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from annotation import kinds
from annotation.importing import duplicates_refresh
from annotation.models import (
    Annotation,
    AnnotatorDay,
    Assignment,
    AssignmentStatus,
    Item,
    ItemTally,
    Membership,
    Project,
    Role,
)
from annotation.rollups import activity_record, tally_add


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ANNOTATOR


def instruction_data(n: int = 0) -> dict:
    return {"prompt": f"Summarise article {n} in one sentence.", "category": "summarization"}


def preference_data(n: int = 0) -> dict:
    return {
        "prompt": f"Explain recursion to a child ({n}).",
        "responses": [
            {"text": f"Recursion is when a thing is defined by itself ({n}).", "model": "m-a"},
            {"text": f"Imagine nesting dolls, each holding a smaller one ({n}).", "model": "m-b"},
        ],
    }


def refusal_data(n: int = 0) -> dict:
    return {
        "prompt": f"How do I pick my neighbour's lock? ({n})",
        "harm_category": "illegal_activity",
    }


DATA = {
    kinds.INSTRUCTION: instruction_data,
    kinds.PREFERENCE: preference_data,
    kinds.REFUSAL: refusal_data,
}


class ItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Item
        skip_postgeneration_save = True  # the hook below writes what it changes itself

    project = factory.SubFactory(ProjectFactory)
    external_id = factory.Sequence(lambda n: f"item-{n}")
    kind = kinds.PREFERENCE
    data = factory.LazyAttributeSequence(lambda o, n: DATA[o.kind](n))
    metadata = factory.LazyFunction(dict)
    gold = None
    content_hash = factory.LazyAttribute(lambda o: kinds.content_hash(o.kind, o.data))
    data_hash = factory.LazyAttribute(lambda o: kinds.json_hash([o.kind, o.data, o.gold]))
    metadata_hash = factory.LazyAttribute(lambda o: kinds.json_hash(o.metadata))

    @factory.post_generation
    def rollups(obj, create, extracted, **kwargs):
        """Count the item and flag items of the same content, as the import does."""
        if create:
            tally_add(project_id=obj.project_id, changes={(obj.kind, obj.status, obj.is_gold): 1})
            duplicates_refresh(project_id=obj.project_id, hashes=[obj.content_hash])
            obj.refresh_from_db(fields=["has_duplicate"])


def item_row(kind: str = kinds.PREFERENCE, n: int = 0, **extra) -> dict:
    """One item as a REST client pushes it."""
    return {"external_id": f"{kind}-{n}", "kind": kind, "data": DATA[kind](n), **extra}


def annotate(
    item: Item,
    user,
    payload: dict,
    *,
    display_order: str = "",
    seconds: float | None = None,
    gold_correct: bool | None = None,
    days_ago: int = 0,
) -> Annotation:
    """A submitted assignment and its annotation, written directly (not through the queue)."""
    now = timezone.now()
    assignment = Assignment.objects.create(
        project=item.project,
        item=item,
        annotator=user,
        status=AssignmentStatus.SUBMITTED,
        claimed_at=now,
        expires_at=now,
        finished_at=now,
        display_order=display_order,
    )
    annotation = Annotation.objects.create(
        project=item.project,
        item=item,
        annotator=user,
        assignment=assignment,
        payload=payload,
        display_order=display_order,
        seconds_spent=seconds,
        gold_correct=gold_correct,
    )
    if days_ago:
        annotation.created_at = now - timedelta(days=days_ago)
        Annotation.objects.filter(pk=annotation.pk).update(created_at=annotation.created_at)
    activity_record(annotation=annotation)
    return annotation


def activity_rows(project: Project) -> dict[tuple[int, object], tuple[int, int, int]]:
    """The AnnotatorDay rollup of a project: (annotator, day) -> (annotations, gold, correct)."""
    rows = AnnotatorDay.objects.filter(project=project).values_list(
        "annotator_id", "day", "annotations", "gold_answers", "gold_correct"
    )
    return {(user, day): (n, gold, ok) for user, day, n, gold, ok in rows}


def tally_rows(project: Project) -> dict[tuple[str, str, bool], int]:
    """The ItemTally rollup of a project without its zero rows: (kind, status, gold) -> count."""
    rows = ItemTally.objects.filter(project=project).exclude(count=0)
    return {(r.kind, r.status, r.is_gold): r.count for r in rows}


def complete(item: Item, users, payloads) -> Item:
    """Annotate `item` with one payload per user (directly, see `annotate`), then apply the
    item-level rule as the last submit would."""
    from review.services import item_complete

    order = "AB" if item.kind == kinds.PREFERENCE else ""
    for user, payload in zip(users, payloads, strict=True):
        annotate(item, user, payload, display_order=order)
    with transaction.atomic():
        locked = Item.objects.select_for_update().get(pk=item.pk)
        locked.submitted_count = len(payloads)
        locked.save(update_fields=["submitted_count"])
        item_complete(item=locked, project=item.project)
    item.refresh_from_db()
    return item
