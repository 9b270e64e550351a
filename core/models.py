"""What every app shares: the audit trail, a timestamped base, job states, choice constraints.

Imports no other app of the project, so any app may import it.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


def in_choices(field: str, choices: type[models.TextChoices]) -> Q:
    """``field`` holds one of ``choices``: the condition of a CheckConstraint."""
    return Q(**{f"{field}__in": choices.values})


class JobStatus(models.TextChoices):
    """States of a background job (agreement reports, exports)."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AuditEvent(models.Model):
    """Who changed what and when: written in the same transaction as the change it records."""

    project = models.ForeignKey(
        "annotation.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["project", "-id"], name="audit_project_recent"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"


class OutboxState(models.TextChoices):
    """Where a background job stands in the outbox (core.outbox)."""

    PENDING = "pending", "Waiting to be handed to the task queue"
    SENT = "sent", "Handed to the task queue"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class OutboxJob(models.Model):
    """A background job, recorded in the transaction of the change that asks for it.

    A relay hands it to Celery after commit (and a periodic relay hands over anything left
    behind: a broker that was down, a process that died between commit and publish); the worker
    running it writes a heartbeat, and a periodic sweeper hands a job whose heartbeat stopped
    to the queue again, up to ``max_attempts`` runs. See core/outbox.py."""

    task = models.CharField(max_length=128)
    kwargs = models.JSONField(default=dict)
    # What the job is for, unique while set ("exports.build:17"): the app finds its job by it.
    key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    state = models.CharField(
        max_length=16, choices=OutboxState.choices, default=OutboxState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)  # runs a worker started
    max_attempts = models.PositiveIntegerField(default=3)
    publishes = models.PositiveIntegerField(default=0)  # times handed to the task queue
    available_at = models.DateTimeField(default=timezone.now)  # not handed over before this
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    run = models.CharField(max_length=64, blank=True, default="")  # the current run's id
    worker = models.CharField(max_length=200, blank=True, default="")
    error = models.TextField(blank=True, default="")  # the last problem (publish or run)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=in_choices("state", OutboxState), name="outbox_state_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["available_at", "id"],
                condition=Q(state="pending"),
                name="outbox_pending",
            ),
            models.Index(
                fields=["state", "heartbeat_at"],
                condition=Q(state__in=["sent", "running"]),
                name="outbox_in_flight",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task} {self.kwargs} ({self.state})"


class TokenScope(models.TextChoices):
    """What an API token may do (within what its account may do)."""

    READ = "read", "read: GET only"
    PUSH = "push", "push: read, and import items"
    ANNOTATE = "annotate", "annotate: read, and claim, submit, skip, draft and review"
    ADMIN = "admin", "admin: everything the account may do"


class ApiToken(models.Model):
    """An API token, stored hashed: the database keeps the first characters of the key (to
    find it) and the SHA-256 of the whole key, never the key (core/tokens.py)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    scope = models.CharField(max_length=16, choices=TokenScope.choices, default=TokenScope.ADMIN)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=in_choices("scope", TokenScope), name="api_token_scope_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.scope})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (
            self.expires_at is None or self.expires_at > timezone.now()
        )


class AuthAttempt(models.Model):
    """A password check at the login page or the token endpoint, for the throttle and the
    lockout (core/throttle.py): by account (lower-cased) and by client address."""

    username = models.CharField(max_length=150)
    address = models.CharField(max_length=64)
    succeeded = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["username", "created_at"], name="auth_attempt_account"),
            models.Index(fields=["address", "created_at"], name="auth_attempt_address"),
        ]

    def __str__(self) -> str:
        return f"{self.username}@{self.address} {'ok' if self.succeeded else 'failed'}"
