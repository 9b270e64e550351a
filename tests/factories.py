from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from annotation import kinds
from annotation.models import (
    Annotation,
    Assignment,
    AssignmentStatus,
    Item,
    Membership,
    Project,
    Role,
)


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

    project = factory.SubFactory(ProjectFactory)
    external_id = factory.Sequence(lambda n: f"item-{n}")
    kind = kinds.PREFERENCE
    data = factory.LazyAttributeSequence(lambda o, n: DATA[o.kind](n))
    metadata = factory.LazyFunction(dict)
    gold = None
    content_hash = factory.LazyAttribute(lambda o: kinds.content_hash(o.kind, o.data))
    data_hash = factory.LazyAttribute(lambda o: kinds.json_hash([o.kind, o.data, o.gold]))
    metadata_hash = factory.LazyAttribute(lambda o: kinds.json_hash(o.metadata))


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
        Annotation.objects.filter(pk=annotation.pk).update(
            created_at=now - timedelta(days=days_ago)
        )
    return annotation
