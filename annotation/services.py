"""Services that write: projects and memberships (item import is in annotation.importing)."""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from annotation import project_settings
from annotation.events import ProjectSettingsChanged
from annotation.models import Membership, Project, Role, SettingVersion
from annotation.queue import (
    assignments_end,
    items_complete_full,
    items_stall_after_leaving,
    items_unstall,
)
from core import events
from core.audit import audit_record
from core.errors import ApplicationError, Conflict, PermissionDenied

User = get_user_model()

# --- projects ----------------------------------------------------------------------------------

# The settings, their checks and defaults are described once in annotation.project_settings.
SETTINGS = project_settings.NAMES
MAX_GUIDELINES = project_settings.MAX_GUIDELINES


def project_settings_clean(changes: Any, *, creating: bool) -> dict[str, Any]:
    """Validate a set of project settings; every problem is reported, nothing half-applied."""
    if not isinstance(changes, dict):
        raise ApplicationError("Send a JSON object of project settings.")
    errors = [
        {"field": key, "message": project_settings.unknown_message()}
        for key in changes
        if key not in SETTINGS
    ]
    for setting in project_settings.SETTINGS:
        if creating and setting.required and setting.name not in changes:
            errors.append({"field": setting.name, "message": "This field is required."})
    for key, value in changes.items():
        if message := project_settings.check(key, value):
            errors.append({"field": key, "message": message})
    if errors:
        raise ApplicationError(
            f"Invalid settings: {errors[0]['field']}: {errors[0]['message']}", {"errors": errors}
        )
    return {key: value for key, value in changes.items()}


# What a settings change sets off in an app above this one, in the settings' transaction and
# after the change is announced (registered when that app is ready, as importing's routers):
# each gets the project, the actor and the changed settings (`before`, `after`) and returns
# what the lead is told of it, `{name: value}`, or None. Routing re-routes the items nobody
# has touched yet when the routing policy changes, and says how many.
SettingsEffect = Callable[..., dict[str, Any] | None]
_settings_effects: list[SettingsEffect] = []


def settings_effect_register(function: SettingsEffect) -> SettingsEffect:
    if function not in _settings_effects:
        _settings_effects.append(function)
    return function


def _settings_snapshot(project: Project) -> dict[str, Any]:
    return {name: getattr(project, name) for name in SETTINGS}


def project_create_allowed(user: Any) -> bool:
    """Whether `user` may create projects: staff, or every logged-in user when the setting
    PROJECT_CREATORS is `everyone` (default `staff`)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return user.is_staff or settings.PROJECT_CREATORS == "everyone"


def project_create_check(user: Any) -> None:
    """PermissionDenied (403) unless `user` may create projects (project_create_allowed)."""
    if not project_create_allowed(user):
        raise PermissionDenied(
            "Only staff create projects here (PROJECT_CREATORS=staff); ask a staff member, or "
            "a lead to invite you to a project."
        )


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
    """Change settings. The project returned carries `settings_effects`: what the change set
    off that the lead is told (`{"rerouted": {...}}` from routing; empty when nothing)."""
    clean = project_settings_clean(changes, creating=False)
    project = Project.objects.select_for_update().get(pk=project.pk)
    project.settings_effects = {}
    before = _settings_snapshot(project)
    for key, value in clean.items():
        setattr(project, key, value)
    if clean.get("guidelines", project.guidelines) != before["guidelines"]:
        project.guidelines_version += 1
    changed = {k for k in clean if before[k] != getattr(project, k)}
    if not changed:
        return project
    _new_versions(project, before, changed)
    project.save()
    old = {k: before[k] for k in sorted(changed)}
    new = {k: getattr(project, k) for k in sorted(changed)}
    audit_record(
        actor=actor, action="project.update", obj=project, project=project, before=old, after=new
    )
    # What the change affects, in the same transaction: a lower overlap completes the items
    # that now have enough annotations; review re-routes what it decided on the old values.
    overlap = new.get("annotations_per_item", before["annotations_per_item"])
    if overlap < before["annotations_per_item"]:
        items_complete_full(project=project)
    events.announce(ProjectSettingsChanged(project_id=project.pk, before=old, after=new))
    if overlap > before["annotations_per_item"]:
        # Items review sent back for more annotations that no member left can give stall
        # (a lead sees them), instead of waiting open for a claim that never comes.
        items_stall_after_leaving(project=project)
    for effect in _settings_effects:
        project.settings_effects.update(
            effect(project=project, actor=actor, before=old, after=new) or {}
        )
    return project


def _new_versions(project: Project, before: dict[str, Any], changed: set[str]) -> None:
    """A changed versioned setting gets a new version; the version it replaces is kept."""
    for setting in project_settings.versioned():
        if setting.name not in changed:
            continue
        field = f"{setting.name}_version"
        old = getattr(project, field)
        SettingVersion.objects.get_or_create(
            project=project,
            setting=setting.name,
            version=old,
            defaults={"value": before[setting.name], "created_at": project.created_at}
            if old == 1
            else {"value": before[setting.name]},
        )
        setattr(project, field, old + 1)
        SettingVersion.objects.create(
            project=project,
            setting=setting.name,
            version=old + 1,
            value=getattr(project, setting.name),
        )


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
    """Remove a member; their active leases end at once, so the items return to the queue,
    and items that nobody left may take stall."""
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
    items_stall_after_leaving(project=project)
