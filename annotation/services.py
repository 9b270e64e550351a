"""Services that write: projects and memberships (item import is in annotation.importing)."""

from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from annotation import kinds
from annotation.events import ProjectSettingsChanged
from annotation.models import Membership, Project, Role
from annotation.queue import assignments_end, items_complete_full, items_unstall
from core import events
from core.audit import audit_record
from core.errors import ApplicationError, Conflict

User = get_user_model()

# --- projects ----------------------------------------------------------------------------------

SETTINGS = (
    "name",
    "kinds",
    "annotations_per_item",
    "review_sample_rate",
    "gold_rate",
    "lease_seconds",
    "eval_fraction",
    "categories",
    "criteria",
    "harm_categories",
    "guidelines",
    "system_prompt",
    "auto_approve_text",
    "agreement_every",
    "gold_threshold",
)
MAX_GUIDELINES = 200_000


def _number(value: Any, lo: float, hi: float, *, integer: bool) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "Must be a number." if not integer else "Must be an integer."
    if integer and not isinstance(value, int):
        return "Must be an integer."
    if not lo <= value <= hi:
        return f"Must be from {lo:g} to {hi:g}."
    return None


def _label_list(value: Any, *, allowed: Sequence[str] | None = None) -> str | None:
    if not isinstance(value, list) or not value:
        return "Must be a non-empty list of names."
    if len(value) > kinds.MAX_LIST_SETTING:
        return f"At most {kinds.MAX_LIST_SETTING} entries."
    for entry in value:
        if (
            not isinstance(entry, str)
            or not entry.strip()
            or len(entry) > 64
            or entry != entry.strip()
        ):
            return "Each entry must be a non-empty name of at most 64 characters, no outer spaces."
        if allowed is not None and entry not in allowed:
            return f"{entry!r} is not one of: {', '.join(allowed)}."
    if len(set(value)) != len(value):
        return "Entries must be unique."
    return None


def _check_setting(name: str, value: Any) -> str | None:
    match name:
        case "name":
            if not isinstance(value, str) or not value.strip() or len(value) > 200:
                return "Must be a non-empty name of at most 200 characters."
        case "kinds":
            return _label_list(value, allowed=kinds.names())
        case "annotations_per_item":
            return _number(value, 1, 10, integer=True)
        case "review_sample_rate" | "gold_rate" | "eval_fraction" | "gold_threshold":
            return _number(value, 0, 1, integer=False)
        case "lease_seconds":
            return _number(value, 60, 86400, integer=True)
        case "agreement_every":
            return _number(value, 0, 1_000_000, integer=True)
        case "categories" | "criteria" | "harm_categories":
            return _label_list(value)
        case "guidelines" | "system_prompt":
            if not isinstance(value, str):
                return "Must be a string."
            if len(value) > MAX_GUIDELINES:
                return f"Must be at most {MAX_GUIDELINES:,} characters."
            if kinds.unstorable(value):
                return kinds.UNSTORABLE_MESSAGE
        case "auto_approve_text":
            if not isinstance(value, bool):
                return "Must be true or false."
    return None


def project_settings_clean(changes: Any, *, creating: bool) -> dict[str, Any]:
    """Validate a set of project settings; every problem is reported, nothing half-applied."""
    if not isinstance(changes, dict):
        raise ApplicationError("Send a JSON object of project settings.")
    errors = [
        {"field": key, "message": f"Unknown setting. Settings: {', '.join(SETTINGS)}."}
        for key in changes
        if key not in SETTINGS
    ]
    if creating and "name" not in changes:
        errors.append({"field": "name", "message": "This field is required."})
    for key, value in changes.items():
        if key in SETTINGS and (message := _check_setting(key, value)):
            errors.append({"field": key, "message": message})
    if errors:
        raise ApplicationError(
            f"Invalid settings: {errors[0]['field']}: {errors[0]['message']}", {"errors": errors}
        )
    return {key: value for key, value in changes.items()}


def _settings_snapshot(project: Project) -> dict[str, Any]:
    return {name: getattr(project, name) for name in SETTINGS}


@transaction.atomic
def project_create(*, actor: Any, values: dict[str, Any]) -> Project:
    """A new project from its settings; the creator becomes its lead."""
    clean = project_settings_clean(values, creating=True)
    project = Project.objects.create(created_by=actor, **clean)
    Membership.objects.create(project=project, user=actor, role=Role.LEAD)
    audit_record(
        actor=actor,
        action="project.create",
        obj=project,
        project=project,
        after=_settings_snapshot(project),
    )
    return project


@transaction.atomic
def project_update(*, project: Project, actor: Any, changes: dict[str, Any]) -> Project:
    clean = project_settings_clean(changes, creating=False)
    project = Project.objects.select_for_update().get(pk=project.pk)
    before = _settings_snapshot(project)
    for key, value in clean.items():
        setattr(project, key, value)
    if clean.get("guidelines", project.guidelines) != before["guidelines"]:
        project.guidelines_version += 1
    changed = {k for k in clean if before[k] != getattr(project, k)}
    if not changed:
        return project
    project.save()
    old = {k: before[k] for k in sorted(changed)}
    new = {k: getattr(project, k) for k in sorted(changed)}
    audit_record(
        actor=actor, action="project.update", obj=project, project=project, before=old, after=new
    )
    # What the change affects, in the same transaction: a lower overlap completes the items
    # that now have enough annotations; review re-routes what it decided on the old values.
    if (
        new.get("annotations_per_item", before["annotations_per_item"])
        < before["annotations_per_item"]
    ):
        items_complete_full(project=project)
    events.announce(ProjectSettingsChanged(project_id=project.pk, before=old, after=new))
    return project


# --- members -----------------------------------------------------------------------------------


@transaction.atomic
def membership_set(
    *, project: Project, actor: Any, username: Any, role: Any
) -> tuple[Membership, bool]:
    """Add a member or change a member's role. Returns (membership, created)."""
    if role not in Role.values:
        raise ApplicationError(
            f"role must be one of: {', '.join(Role.values)}.",
            {"errors": [{"field": "role", "message": f"{role!r} is not a role."}]},
        )
    if not isinstance(username, str) or not username:
        raise ApplicationError(
            "username is required.", {"errors": [{"field": "username", "message": "Required."}]}
        )
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise ApplicationError(
            f"No active user named {username!r}; a staff member creates users.",
            {"errors": [{"field": "username", "message": "No such user."}]},
        )
    _lock_members(project)
    membership = Membership.objects.filter(project=project, user=user).first()
    if membership is None:
        membership = Membership.objects.create(project=project, user=user, role=role)
        items_unstall(project=project)  # the newcomer can take what nobody else could
        audit_record(
            actor=actor,
            action="membership.add",
            obj=membership,
            project=project,
            after={"user": user.username, "role": role},
        )
        return membership, True
    if membership.role != role:
        _ensure_a_lead_remains(project=project, membership=membership, new_role=role)
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
        audit_record(
            actor=actor,
            action="membership.change",
            obj=membership,
            project=project,
            before={"user": user.username, "role": before},
            after={"user": user.username, "role": role},
        )
    return membership, False


def _lock_members(project: Project) -> None:
    """Lock the project row: membership changes of one project run one at a time, so the
    last-lead rule counts leads that cannot change under it (two leads demoting each other
    at the same moment: the second sees the first's change and is refused)."""
    Project.objects.select_for_update().filter(pk=project.pk).values_list("pk").first()


def _ensure_a_lead_remains(
    *, project: Project, membership: Membership, new_role: str | None
) -> None:
    if membership.role == Role.LEAD and new_role != Role.LEAD:
        leads = Membership.objects.filter(project=project, role=Role.LEAD).count()
        if leads <= 1:
            raise Conflict("A project needs at least one lead; make someone else lead first.")


@transaction.atomic
def membership_remove(*, project: Project, actor: Any, membership: Membership) -> None:
    """Remove a member; their active leases end at once, so the items return to the queue."""
    _lock_members(project)
    membership = Membership.objects.select_related("user").filter(pk=membership.pk).first()
    if membership is None:
        return  # removed meanwhile by someone else
    _ensure_a_lead_remains(project=project, membership=membership, new_role=None)
    assignments_end(project=project, annotator=membership.user)
    audit_record(
        actor=actor,
        action="membership.remove",
        obj=membership,
        project=project,
        before={"user": membership.user.username, "role": membership.role},
    )
    membership.delete()
