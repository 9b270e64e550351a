"""Data for the console tests: annotations written directly (not through the queue), items
completed through review.services.item_complete, and agreement reports with chosen figures."""

from django.utils import timezone

from agreement.models import AgreementReport
from annotation import kinds
from annotation.models import Item, Role
from core.models import JobStatus
from tests.factories import ItemFactory, MembershipFactory, UserFactory, complete

EVIL = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'


def member(project, role=Role.ANNOTATOR, username=None):
    user = UserFactory(username=username) if username else UserFactory()
    MembershipFactory(project=project, user=user, role=role)
    return user


def instruction(project, category: str, n: int, **fields) -> Item:
    return ItemFactory(
        project=project,
        kind=kinds.INSTRUCTION,
        data={"prompt": f"Task {category} {n}", "category": category},
        **fields,
    )


def refusal(project, harm: str, n: int, **fields) -> Item:
    return ItemFactory(
        project=project,
        kind=kinds.REFUSAL,
        data={"prompt": f"Risky {harm} {n}", "harm_category": harm},
        **fields,
    )


def approved_instruction(project, users, category: str, n: int) -> Item:
    """An instruction item approved with `category` (auto-approval on)."""
    item = instruction(project, category, n)
    payload = {"response": f"Answer {n}", "category": category}
    return complete(item, users, [payload] * len(users))


def approved_refusal(project, users, harm: str, decision: str, n: int) -> Item:
    item = refusal(project, harm, n)
    payload = {"decision": decision, "response": "No.", "harm_category": harm}
    return complete(item, users, [payload] * len(users))


def report(project, *, annotators=(), fields=None, computed_at=None) -> AgreementReport:
    """A done agreement report with chosen figures."""
    return AgreementReport.objects.create(
        project=project,
        status=JobStatus.DONE,
        fields=fields or {},
        annotators=list(annotators),
        computed_at=computed_at or timezone.now(),
    )


def annotator_entry(user, **figures) -> dict:
    entry = {
        "user_id": user.pk,
        "annotator": user.username,
        "annotations": 0,
        "items_shared": 0,
        "agreement_with_others": None,
        "agreement_pairs": 0,
        "gold_answers": 0,
        "gold_accuracy": None,
        "median_seconds": None,
        "position_bias_left": None,
        "position_choices": 0,
    }
    entry.update(figures)
    return entry
