"""Projects, memberships, items, assignments (leases) and annotations.

Rules that a database can hold are constraints here; the rest lives in services.
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from annotation import kinds as rules
from annotation import project_settings as settings_spec
from core.models import TimeStampedModel, in_choices


def new_pseudonym_key() -> str:
    return secrets.token_hex(16)


# The item kinds, from the registry (annotation.kinds): the field's choices and its database
# check follow the kind modules.
Kind = models.TextChoices(
    "Kind", [(name.upper(), (name, label)) for name, label in rules.choices()]
)


# How a model's suggested labels reach annotators (the project setting `suggestions`).
SuggestionMode = models.TextChoices(
    "SuggestionMode",
    [(value.upper(), (value, label)) for value, label in settings_spec.get("suggestions").choices],
)


# The order a claim serves items in (the project setting `queue_order`).
QueueOrder = models.TextChoices(
    "QueueOrder",
    [(value.upper(), (value, label)) for value, label in settings_spec.get("queue_order").choices],
)


# When a reviewer sees an item's prediction (the project setting `review_prediction`).
ReviewPrediction = models.TextChoices(
    "ReviewPrediction",
    [
        (value.upper(), (value, label))
        for value, label in settings_spec.get("review_prediction").choices
    ],
)


class Project(TimeStampedModel):
    # Its settings' defaults, ranges and help texts are in annotation.project_settings.
    name = models.CharField(max_length=settings_spec.MAX_NAME)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    kinds = models.JSONField(default=settings_spec.default("kinds"))
    annotations_per_item = models.PositiveSmallIntegerField(
        default=settings_spec.default("annotations_per_item")
    )
    review_sample_rate = models.FloatField(default=settings_spec.default("review_sample_rate"))
    gold_rate = models.FloatField(default=settings_spec.default("gold_rate"))
    lease_seconds = models.PositiveIntegerField(default=settings_spec.default("lease_seconds"))
    eval_fraction = models.FloatField(default=settings_spec.default("eval_fraction"))
    categories = models.JSONField(default=settings_spec.default("categories"))
    criteria = models.JSONField(default=settings_spec.default("criteria"))
    harm_categories = models.JSONField(default=settings_spec.default("harm_categories"))
    guidelines = models.TextField(blank=True, default=settings_spec.default("guidelines"))
    guidelines_version = models.PositiveIntegerField(default=1)
    system_prompt = models.TextField(blank=True, default=settings_spec.default("system_prompt"))
    # Instruction and refusal texts need a reviewer to pick the final text unless this is on.
    auto_approve_text = models.BooleanField(default=settings_spec.default("auto_approve_text"))
    # A new agreement report is computed after every this many new annotations (0: never).
    agreement_every = models.PositiveIntegerField(default=settings_spec.default("agreement_every"))
    # Annotators whose gold accuracy falls below this are flagged on the dashboard.
    gold_threshold = models.FloatField(default=settings_spec.default("gold_threshold"))
    # Prompts at least this similar (Jaccard of their word sets) are near-duplicates (hygiene).
    near_duplicate_threshold = models.FloatField(
        default=settings_spec.default("near_duplicate_threshold")
    )
    suggestions = models.CharField(
        max_length=16, choices=SuggestionMode.choices, default=settings_spec.default("suggestions")
    )
    # The criteria rubric items are scored on, versioned: annotations record the version they
    # were made under, SettingVersion keeps every version's criteria.
    rubric = models.JSONField(default=settings_spec.default("rubric"))
    rubric_version = models.PositiveIntegerField(default=1, db_default=1)
    # Routing production items by a model's confidence (the routing app reads these).
    auto_accept_above = models.FloatField(
        null=True, blank=True, default=settings_spec.default("auto_accept_above")
    )
    audit_rate = models.FloatField(default=settings_spec.default("audit_rate"))
    always_review = models.JSONField(default=settings_spec.default("always_review"))
    calibration_target = models.FloatField(default=settings_spec.default("calibration_target"))
    queue_order = models.CharField(
        max_length=16, choices=QueueOrder.choices, default=settings_spec.default("queue_order")
    )
    # Automation-bias guards in review (review.guards).
    review_prediction = models.CharField(
        max_length=16,
        choices=ReviewPrediction.choices,
        default=settings_spec.default("review_prediction"),
        db_default=settings_spec.default("review_prediction"),
    )
    review_gold_rate = models.FloatField(
        default=settings_spec.default("review_gold_rate"),
        db_default=settings_spec.default("review_gold_rate"),
    )
    # Keys the per-project pseudonyms that stand for annotators where names are hidden.
    pseudonym_key = models.CharField(max_length=64, default=new_pseudonym_key, editable=False)

    class Meta:
        ordering = ["-id"]
        # The ranges of the settings, held by the database too.
        constraints = [
            models.CheckConstraint(
                condition=Q(**{f"{s.name}__gte": s.minimum, f"{s.name}__lte": s.maximum}),
                name=s.constraint,
            )
            for s in settings_spec.ranged()
        ] + [
            models.CheckConstraint(
                condition=Q(**{f"{s.name}__in": [value for value, _ in s.choices]}),
                name=s.constraint,
            )
            for s in settings_spec.chosen()
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"
    LEAD = "lead", "Lead"


class Membership(TimeStampedModel):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    # Queue bookkeeping for gold pacing: how many items and how many gold items were served.
    served_count = models.PositiveIntegerField(default=0)
    gold_served_count = models.PositiveIntegerField(default=0)
    # When the member last opened "My work": outcomes of their work since then are news.
    work_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique"),
            models.CheckConstraint(
                condition=in_choices("role", Role), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.role} in {self.project}"


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    EVAL = "eval", "Eval"


class ItemStatus(models.TextChoices):
    OPEN = "open", "Open"
    # Open, but nobody who may annotate it can take it any more (everyone left skipped or
    # already annotated it): waits for a lead to re-queue it, or for a new member.
    STALLED = "stalled", "Stalled"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    # Rejected by a reviewer before rejections chose what happens next; a rejection now sends
    # the item back for fresh annotations (open, next round) or drops it.
    REJECTED = "rejected", "Rejected"
    DROPPED = "dropped", "Dropped"


class SkipReason(models.TextChoices):
    UNCLEAR_GUIDELINES = "unclear_guidelines", "The guidelines do not say"
    NEEDS_EXPERTISE = "needs_expertise", "Needs expertise I do not have"
    BROKEN_ITEM = "broken_item", "The item is broken"
    HARMFUL_CONTENT = "harmful_content", "Harmful content I will not read"
    OTHER = "other", "Other"


class Agreement(models.TextChoices):
    AGREED = "agreed", "Agreed"
    DISPUTED = "disputed", "Disputed"


class ReviewReason(models.TextChoices):
    DISPUTED = "disputed", "Annotators disagree"
    SAMPLED = "sampled", "QA sample of an agreed item"
    TEXT = "text", "A final text must be chosen"
    REOPENED = "reopened", "Sent back by a lead"


class Source(models.TextChoices):
    CURATED = "curated", "Curated"
    PRODUCTION = "production", "Production"


class Route(models.TextChoices):
    """Where an imported item was sent by its prediction's confidence (routing)."""

    AUTO = "auto", "Auto-accepted"
    AUDIT = "audit", "Audit sample"
    HUMAN = "human", "People"


class Item(TimeStampedModel):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    external_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    data = models.JSONField()
    metadata = models.JSONField(default=dict, blank=True)
    priority = models.FloatField(default=0.0)
    split = models.CharField(max_length=8, choices=Split.choices, default=Split.TRAIN)
    # Gold items carry a known answer (an annotation payload of the kind) and are never exported.
    is_gold = models.BooleanField(default=False)
    gold = models.JSONField(null=True, blank=True)
    # sha256 of what makes two items the same task (kind, system, prompt or messages, and for a
    # preference the two responses): exact duplicates are reported at import.
    content_hash = models.CharField(max_length=64)
    # Whether another item of the project has the same content_hash. Kept by the import (the
    # only writer of content), so the dashboard and the items browser read a partial index.
    has_duplicate = models.BooleanField(default=False, db_default=False)
    # sha256 of what an import may not change once annotated (kind, data, gold) and of the
    # metadata: a re-push is compared against these instead of the stored JSON.
    data_hash = models.CharField(max_length=64, default="")
    metadata_hash = models.CharField(max_length=64, default="")
    status = models.CharField(max_length=16, choices=ItemStatus.choices, default=ItemStatus.OPEN)
    agreement = models.CharField(max_length=16, choices=Agreement.choices, blank=True, default="")
    review_reason = models.CharField(
        max_length=16, choices=ReviewReason.choices, blank=True, default=""
    )
    # Denormalised queue counters, kept in the same transaction as the assignments they count, so
    # the claim query decides on the locked item row alone.
    submitted_count = models.PositiveSmallIntegerField(default=0)
    active_count = models.PositiveSmallIntegerField(default=0)
    # Earliest expiry among the item's active leases: an item whose slots are all leased is still
    # claimable once this has passed (the claim expires the stale lease first).
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Rounds of annotation: a reviewer's "annotate again" starts the next one. The counters
    # count the current round; annotations of earlier rounds are kept.
    round = models.PositiveSmallIntegerField(default=1, db_default=1)
    # Whether an earlier round of the item was disputed: its work was sent back for fresh
    # annotations (annotation.queue.item_next_round, after a reviewer's rejection or a lead's
    # re-queue of a rejected item). Kept on the row for `queue_order: disagreement`, whose claim
    # reads it from the item_queue_disagreement index (no join per claim); never cleared.
    disputed = models.BooleanField(default=False, db_default=False)
    # A model's answer ({payload, confidence, model?}) and how sure it is as the uncertainty
    # queue order reads it (the kind's prediction_certainty; null: no prediction).
    prediction = models.JSONField(null=True, blank=True)
    certainty = models.FloatField(null=True, blank=True)
    source = models.CharField(
        max_length=16, choices=Source.choices, default=Source.CURATED, db_default="curated"
    )
    signal = models.CharField(max_length=200, blank=True, default="", db_default="")
    # Where routing sent it and the rule that decided ("": routing never saw it, i.e. people).
    route = models.CharField(
        max_length=8, choices=Route.choices, blank=True, default="", db_default=""
    )
    route_rule = models.CharField(max_length=100, blank=True, default="", db_default="")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"], name="item_external_id_unique"
            ),
            models.CheckConstraint(
                condition=in_choices("source", Source), name="item_source_valid"
            ),
            models.CheckConstraint(
                condition=Q(route="") | in_choices("route", Route), name="item_route_valid"
            ),
            models.CheckConstraint(condition=in_choices("kind", Kind), name="item_kind_valid"),
            models.CheckConstraint(condition=in_choices("split", Split), name="item_split_valid"),
            models.CheckConstraint(
                condition=in_choices("status", ItemStatus), name="item_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(agreement="") | in_choices("agreement", Agreement),
                name="item_agreement_valid",
            ),
            models.CheckConstraint(
                condition=Q(review_reason="") | in_choices("review_reason", ReviewReason),
                name="item_review_reason_valid",
            ),
            models.CheckConstraint(
                condition=Q(is_gold=False, gold__isnull=True) | Q(is_gold=True, gold__isnull=False),
                name="item_gold_has_answer",
            ),
            models.CheckConstraint(condition=~Q(external_id=""), name="item_external_id_not_empty"),
        ]
        indexes = [
            # The claim's queue order over open, non-gold items: one index range scan.
            models.Index(
                "project",
                models.F("submitted_count").desc(),
                models.F("priority").desc(),
                "id",
                name="item_queue",
                condition=Q(status="open", is_gold=False),
            ),
            # The same for `queue_order: uncertainty`: the least sure prediction first (ASC is
            # NULLS LAST on PostgreSQL: items without a prediction last; SQLite cannot say so
            # in an index, and the claim orders NULLS LAST itself).
            models.Index(
                "project",
                models.F("submitted_count").desc(),
                models.F("certainty").asc(),
                "id",
                name="item_queue_uncertainty",
                condition=Q(status="open", is_gold=False),
            ),
            # The same for `queue_order: disagreement`: items whose earlier round was disputed
            # first, then by priority.
            models.Index(
                "project",
                models.F("submitted_count").desc(),
                models.F("disputed").desc(),
                models.F("priority").desc(),
                "id",
                name="item_queue_disagreement",
                condition=Q(status="open", is_gold=False),
            ),
            models.Index(fields=["project", "id"], name="item_gold", condition=Q(is_gold=True)),
            models.Index(fields=["project", "status", "kind"], name="item_project_status"),
            models.Index(fields=["project", "content_hash"], name="item_content_hash"),
            models.Index(
                fields=["project", "content_hash"],
                name="item_duplicates",
                condition=Q(has_duplicate=True),
            ),
            models.Index(fields=["project", "split"], name="item_split"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.external_id}"


class AssignmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"
    EXPIRED = "expired", "Expired"


class Assignment(models.Model):
    """A lease on one item for one annotator. At most one per (item, annotator): an expired
    lease is reactivated when the same annotator is served the item again."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    status = models.CharField(
        max_length=16, choices=AssignmentStatus.choices, default=AssignmentStatus.ACTIVE
    )
    claimed_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # Preference items: "AB" when A was shown on the left, "BA" when the display was swapped.
    display_order = models.CharField(max_length=2, blank=True, default="")
    # The autosaved, not yet submitted form: a reload or a lost lease never loses typed text.
    draft = models.JSONField(null=True, blank=True)
    draft_saved_at = models.DateTimeField(null=True, blank=True)
    # A skip's reason and note, and whether the annotator flagged the item for the lead.
    skip_reason = models.CharField(
        max_length=32, choices=SkipReason.choices, blank=True, default="", db_default=""
    )
    skip_note = models.TextField(blank=True, default="", db_default="")
    flagged = models.BooleanField(default=False, db_default=False)
    # A submitted annotation whose item still waits for others (open, round not complete): the
    # claim finds partly annotated items through these rows, per annotator, so a caller's own
    # waiting items are never scanned (annotation/queue.py). `queue_priority` is the item's
    # priority, kept here so each annotator's rows come out in queue order from one index.
    queue_pending = models.BooleanField(default=False, db_default=False)
    queue_priority = models.FloatField(default=0.0, db_default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="assignment_unique"),
            models.CheckConstraint(
                condition=in_choices("status", AssignmentStatus), name="assignment_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(display_order__in=["", "AB", "BA"]),
                name="assignment_display_order_valid",
            ),
            # One active lease per annotator and project, also under parallel claims (two
            # tabs): the claim that loses the race resumes the winner's lease.
            models.UniqueConstraint(
                fields=["project", "annotator"],
                condition=Q(status="active"),
                name="assignment_one_active_lease",
            ),
            models.CheckConstraint(
                condition=Q(skip_reason="") | in_choices("skip_reason", SkipReason),
                name="assignment_skip_reason_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"], name="assignment_expiry", condition=Q(status="active")
            ),
            models.Index(
                fields=["project", "item"], name="assignment_flagged", condition=Q(flagged=True)
            ),
            models.Index(
                "project",
                "annotator",
                models.F("queue_priority").desc(),
                "item",
                name="assignment_queue_pending",
                condition=Q(queue_pending=True),
            ),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk} ({self.status})"


class Annotation(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations"
    )
    assignment = models.OneToOneField(
        Assignment, on_delete=models.PROTECT, related_name="annotation"
    )
    # Always in A/B terms: the browser maps a swapped display back before this is written.
    payload = models.JSONField()
    display_order = models.CharField(max_length=2, blank=True, default="")
    seconds_spent = models.FloatField(null=True, blank=True)
    guidelines_version = models.PositiveIntegerField(default=1)
    # Gold items only: whether the answer matched the known one.
    gold_correct = models.BooleanField(null=True, blank=True)
    # The item's round this annotation belongs to (see Item.round).
    round = models.PositiveSmallIntegerField(default=1, db_default=1)
    # Whether a model's suggestion was on the form (labelled or preselected), and whether the
    # submitted answer kept it (None when none was shown): rubber-stamping shows up here.
    suggestion_shown = models.BooleanField(default=False, db_default=False)
    suggestion_accepted = models.BooleanField(null=True, blank=True)
    # The project's rubric version when it was made (a rubric item's scores follow it).
    rubric_version = models.PositiveIntegerField(default=1, db_default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(null=True, blank=True)  # its annotator changed it

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="annotation_unique"),
            models.CheckConstraint(
                condition=Q(display_order__in=["", "AB", "BA"]),
                name="annotation_display_order_valid",
            ),
            models.CheckConstraint(
                condition=Q(seconds_spent__isnull=True) | Q(seconds_spent__gte=0),
                name="annotation_seconds_nonnegative",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "id"], name="annotation_by_project"),
            # The dashboard's suggestion acceptance reads only annotations that had one.
            models.Index(
                fields=["project", "annotator"],
                name="annotation_suggestion_shown",
                condition=Q(suggestion_shown=True),
            ),
        ]

    def __str__(self) -> str:
        return f"annotation {self.pk} on item {self.item_id}"


class SettingVersion(models.Model):
    """One version of a versioned project setting (annotation.project_settings, `versioned`):
    the value it had from `created_at` until the next version. Written when the setting
    changes (the version replaced, if not kept yet, and the new one); a project whose setting
    never changed has no row and its one version is the project's current value."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    setting = models.CharField(max_length=32)
    version = models.PositiveIntegerField()
    value = models.JSONField()
    # From when the version holds (the first version: since the project was created).
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "setting", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "setting", "version"], name="setting_version_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.setting} version {self.version} of project {self.project_id}"


class AnnotatorDay(models.Model):
    """The annotations one annotator submitted in a project on one day (in TIME_ZONE).

    A rollup kept in the submit's transaction (annotation.rollups), so the dashboard's
    activity figures sum a few rows per annotator instead of reading every annotation. Only
    the annotator's own submits touch their row: concurrent annotators never wait on it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    day = models.DateField()
    annotations = models.PositiveIntegerField(default=0)
    gold_answers = models.PositiveIntegerField(default=0)  # annotations of gold items
    gold_correct = models.PositiveIntegerField(default=0)  # of which matched the known answer

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "annotator", "day"], name="annotator_day_unique"
            ),
            models.CheckConstraint(
                condition=Q(gold_correct__lte=models.F("gold_answers"))
                & Q(gold_answers__lte=models.F("annotations")),
                name="annotator_day_counts_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.annotations} annotations by {self.annotator_id} on {self.day}"


class ItemTally(models.Model):
    """How many items of a project have one kind, status and gold flag.

    A rollup kept by the writes that create items or change those three (the import and
    review.services), each as the last statement of its transaction and in one key order, so
    the row locks are held only until the commit and never deadlock. The dashboard's progress
    then reads at most 24 rows instead of counting the items. No check keeps `count` at zero
    or more: a tally gone wrong (items changed by hand) must not stop an annotator's submit;
    `manage.py rebuild_rollups` recounts."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=ItemStatus.choices)
    is_gold = models.BooleanField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "kind", "status", "is_gold"], name="item_tally_unique"
            ),
        ]

    def __str__(self) -> str:
        gold = " gold" if self.is_gold else ""
        return f"{self.count} {self.status}{gold} {self.kind} items"
