"""Reviews and final records."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotation.models import Annotation, Item, Project
from core.models import in_choices


class ReviewDecision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class AfterReject(models.TextChoices):
    ANNOTATE_AGAIN = "annotate_again", "Annotate again"
    DROP = "drop", "Drop the item"


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
    # A rejection: what happens to the item next ("" for an approval).
    then = models.CharField(
        max_length=16, choices=AfterReject.choices, blank=True, default="", db_default=""
    )
    # The item's round the decision was made on.
    round = models.PositiveSmallIntegerField(default=1, db_default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=in_choices("decision", ReviewDecision), name="review_decision_valid"
            ),
            models.CheckConstraint(
                condition=Q(then="") | in_choices("then", AfterReject), name="review_then_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.decision} of item {self.item_id}"


class Provenance(models.TextChoices):
    UNANIMOUS = "unanimous", "Unanimous"
    ADJUDICATED = "adjudicated", "Adjudicated"
    EDITED = "edited", "Edited"
    # Approved at import as a model predicted it, its confidence above the project's
    # `auto_accept_above` (routing); the item keeps the prediction's confidence and model.
    AUTO = "auto", "Auto-accepted"


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


class ReviewLeaseStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RELEASED = "released", "Released"
    DECIDED = "decided", "Decided"
    EXPIRED = "expired", "Expired"


class ReviewLease(models.Model):
    """One reviewer holding one item in review, like an annotator's lease: two reviewers never
    hold the same item (a database constraint), and a decision on an item another reviewer
    holds is refused until the lease ends."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="review_leases")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_leases"
    )
    status = models.CharField(
        max_length=16, choices=ReviewLeaseStatus.choices, default=ReviewLeaseStatus.ACTIVE
    )
    claimed_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item"], condition=Q(status="active"), name="review_lease_one_per_item"
            ),
            models.UniqueConstraint(
                fields=["project", "reviewer"],
                condition=Q(status="active"),
                name="review_lease_one_per_reviewer",
            ),
            models.CheckConstraint(
                condition=in_choices("status", ReviewLeaseStatus), name="review_lease_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"review lease {self.pk} on item {self.item_id} ({self.status})"


class ReviewSkip(models.Model):
    """An item a reviewer put aside: not offered to them again until they clear their skips."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "reviewer"], name="review_skip_unique"),
        ]
        indexes = [models.Index(fields=["project", "reviewer"], name="review_skip_by_reviewer")]

    def __str__(self) -> str:
        return f"item {self.item_id} skipped by {self.reviewer_id}"


class PredictionCheck(models.Model):
    """What one reviewer was shown of an item's prediction in one round, and how they judged
    it: the guards against automation bias (review.guards).

    `shown` is the payload the reviewer saw, in A/B terms: the item's prediction, or, for a
    review gold item (`seeded`), a deliberately wrong version of it that is kept here only,
    never on the item, a final record or an export. The confidence and the model name are
    never shown to a reviewer. `judgement` is the answer a reviewer recorded before the
    prediction was revealed (the project's `review_prediction` is `after_judgement`); the
    decision then grades `answer` (the judgement when there is one, else the approved final)
    against what was shown: `agreed` is whether they agree by the kind's agreement rule (an
    accepted prediction; for a seeded one, a missed error); `final_agreed` the same for the
    approved final. `seconds` runs from the review claim to the decision."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="prediction_checks")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="prediction_checks"
    )
    round = models.PositiveSmallIntegerField(default=1)
    seeded = models.BooleanField(default=False)
    shown = models.JSONField()
    claimed_at = models.DateTimeField()
    judgement = models.JSONField(null=True, blank=True)
    judged_at = models.DateTimeField(null=True, blank=True)
    review = models.OneToOneField(
        Review, null=True, blank=True, on_delete=models.SET_NULL, related_name="prediction_check"
    )
    answer = models.JSONField(null=True, blank=True)
    agreed = models.BooleanField(null=True, blank=True)
    # Whether the approved final agrees with what was shown (None for a rejection): beside a
    # judgement that did not, the reviewer changed to the model's answer once they saw it.
    final_agreed = models.BooleanField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # One open (undecided) check per reviewer and item; an item sent back to review
            # gets a new one.
            models.UniqueConstraint(
                fields=["item", "reviewer"],
                condition=Q(decided_at__isnull=True),
                name="prediction_check_one_open",
            ),
            models.CheckConstraint(
                condition=Q(seconds__isnull=True) | Q(seconds__gte=0),
                name="prediction_check_seconds_nonnegative",
            ),
        ]
        indexes = [
            models.Index(
                fields=["project", "reviewer"],
                name="prediction_check_decided",
                condition=Q(decided_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        seeded = " (seeded)" if self.seeded else ""
        return f"prediction check of item {self.item_id} for {self.reviewer_id}{seeded}"
