"""Reviews and final records."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotation.models import Annotation, Item, Project
from core.models import in_choices


class ReviewDecision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class Review(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews"
    )
    decision = models.CharField(max_length=16, choices=ReviewDecision.choices)
    annotation = models.ForeignKey(
        Annotation, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    final = models.JSONField(null=True, blank=True)
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=in_choices("decision", ReviewDecision), name="review_decision_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.decision} of item {self.item_id}"


class Provenance(models.TextChoices):
    UNANIMOUS = "unanimous", "Unanimous"
    ADJUDICATED = "adjudicated", "Adjudicated"
    EDITED = "edited", "Edited"


class FinalRecord(models.Model):
    """The payload exports use for an approved item. One current record per item; a record
    replaced after the item went back to review is kept with `is_current=False` as history."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="final_records")
    payload = models.JSONField()
    # Copied from the item and the payload when the record is written (final_record_create), so
    # the dashboard's coverage counts are one index-only scan: the project, the item's kind, the
    # instruction category or refusal harm category, and the refusal decision ("" when none).
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16)
    category = models.CharField(max_length=64, blank=True, default="")
    decision = models.CharField(max_length=16, blank=True, default="")
    provenance = models.CharField(max_length=16, choices=Provenance.choices)
    source_annotation = models.ForeignKey(
        Annotation, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_current = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item"], condition=Q(is_current=True), name="final_record_one_current"
            ),
            models.CheckConstraint(
                condition=in_choices("provenance", Provenance), name="final_record_provenance_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["project", "kind", "category", "decision"],
                name="final_record_coverage",
                condition=Q(is_current=True),
            )
        ]

    def __str__(self) -> str:
        return f"final record of item {self.item_id} ({self.provenance})"
