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
from annotation.rollups import activity_rebuild, tally_add


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


MODELS = ("model-a", "model-b", "model-c")


def rubric_data(n: int = 0) -> dict:
    return {
        "prompt": f"Write a haiku about autumn ({n}).",
        "response": {"text": f"Leaves fall, **quietly** ({n}).", "model": MODELS[n % len(MODELS)]},
        "reference": "Red leaves drift and fall",
        "group": f"case-{n // 2}",
        "tags": ["poetry"] if n % 2 == 0 else ["poetry", "adversarial"],
    }


def rubric_scores(value: int = 4, *, passed: bool = True) -> dict:
    """A rubric payload for the default rubric: every 1-5 criterion `value`, overall `passed`."""
    scores = {
        c["name"]: passed if c["scale"] == "pass_fail" else value for c in kinds.default_rubric()
    }
    return {"scores": scores}


DATA = {
    kinds.INSTRUCTION: instruction_data,
    kinds.PREFERENCE: preference_data,
    kinds.REFUSAL: refusal_data,
    kinds.RUBRIC: rubric_data,
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


def lease(item: Item, user, *, display_order: str = "") -> Assignment:
    """An active lease on this very item for this user, as a claim that chose it would leave
    it (the queue chooses items itself; tests choose theirs)."""
    now = timezone.now()
    with transaction.atomic():
        locked = Item.objects.select_for_update().get(pk=item.pk)
        assignment = Assignment.objects.create(
            project=item.project,
            item=locked,
            annotator=user,
            status=AssignmentStatus.ACTIVE,
            claimed_at=now,
            expires_at=now + timedelta(seconds=item.project.lease_seconds),
            display_order=display_order,
        )
        locked.active_count += 1
        if locked.lease_expires_at is None or assignment.expires_at < locked.lease_expires_at:
            locked.lease_expires_at = assignment.expires_at
        locked.save(update_fields=["active_count", "lease_expires_at"])
    return assignment


def annotate(
    item: Item,
    user,
    payload: dict,
    *,
    display_order: str = "",
    seconds: float | None = None,
    days_ago: int = 0,
) -> Annotation:
    """Annotate `item` through the queue's services: a lease on it, then the submit, so gold
    scoring, the item-level rule and every event subscriber run as in production.
    `days_ago` moves the annotation into the past afterwards (and recounts the activity
    rollup, as `manage.py rebuild_rollups` would)."""
    from annotation.queue import assignment_submit

    assignment = lease(item, user, display_order=display_order)
    annotation = assignment_submit(
        assignment_id=assignment.pk, annotator=user, payload=payload, seconds_spent=seconds
    ).annotation
    if days_ago:
        annotation.created_at = timezone.now() - timedelta(days=days_ago)
        Annotation.objects.filter(pk=annotation.pk).update(created_at=annotation.created_at)
        activity_rebuild(project_id=item.project_id)
    item.refresh_from_db()
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
    """Annotate `item` with one payload per user (see `annotate`): the item completes as the
    project's overlap says (with as many users as the overlap, on the last submit)."""
    for user, payload in zip(users, payloads, strict=True):
        annotate(item, user, payload, display_order="AB" if item.data.get("responses") else "")
    item.refresh_from_db()
    return item
