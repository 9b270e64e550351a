"""Permission-checked getters: every object is reached through the caller's project membership.

A caller who is not a member of the project gets 404 (the object's existence is not revealed);
a member whose role does not allow the action gets 403.
"""

from functools import cache
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from annotation.models import Assignment, Item, Membership, Project, Role
from core.db import is_row_id, model_columns, model_instances, read_one
from core.errors import PermissionDenied

# What each role may do; a lead may also review and annotate, a reviewer may also annotate.
ROLE_RANK = {Role.ANNOTATOR: 1, Role.REVIEWER: 2, Role.LEAD: 3}


def projects_for_member(*, user: Any) -> QuerySet[Project]:
    if not getattr(user, "is_authenticated", False):
        return Project.objects.none()
    return Project.objects.filter(memberships__user=user)


@cache
def _membership_sql() -> str:
    return f"""
    SELECT {model_columns(Membership, "m")}, {model_columns(Project, "p")}
    FROM annotation_membership m JOIN annotation_project p ON p.id = m.project_id
    WHERE m.project_id = %s AND m.user_id = %s
    """  # noqa: S608 (no user input: names of tables and columns)


def membership_get(*, user: Any, project_id: Any, role: str = Role.ANNOTATOR) -> Membership:
    """The caller's membership of the project (its project loaded), checked for at least
    `role`. Every request of a project runs this: one hand-written read instead of the ORM's
    select_related, whose building cost more than the query."""
    try:
        pk = int(project_id)
    except (TypeError, ValueError):
        raise Http404("No such project.") from None
    user_id = getattr(user, "pk", None)
    if user_id is None or not is_row_id(pk):
        raise Http404("No such project.")
    row = read_one(_membership_sql(), [pk, user_id])
    if row is None:
        raise Http404("No such project.")
    membership, project = model_instances(row, Membership, Project)
    membership.project = project
    if ROLE_RANK[membership.role] < ROLE_RANK[role]:
        raise PermissionDenied(f"This needs the {role} role in this project.")
    return membership


def project_get_for_member(*, user: Any, project_id: Any, role: str = Role.ANNOTATOR) -> Project:
    return membership_get(user=user, project_id=project_id, role=role).project


def item_get_for_member(
    *, user: Any, item_id: Any, role: str = Role.ANNOTATOR
) -> tuple[Item, Membership]:
    try:
        pk = int(item_id)
    except (TypeError, ValueError):
        raise Http404("No such item.") from None
    item = Item.objects.select_related("project").filter(pk=pk).first()
    if item is None:
        raise Http404("No such item.")
    try:
        membership = membership_get(user=user, project_id=item.project_id, role=role)
    except Http404:
        raise Http404("No such item.") from None
    return item, membership


def item_in_project(*, membership: Membership, item_id: Any) -> Item:
    """An item of the project of a membership already checked; any other item is a 404."""
    item = Item.objects.filter(project_id=membership.project_id, pk=item_id).first()
    if item is None:
        raise Http404("No such item in this project.")
    return item


def assignment_get_for_annotator(*, user: Any, assignment_id: Any) -> Assignment:
    """The caller's own assignment, in a project the caller still belongs to."""
    try:
        pk = int(assignment_id)
    except (TypeError, ValueError):
        raise Http404("No such assignment.") from None
    assignment = Assignment.objects.filter(pk=pk, annotator_id=getattr(user, "pk", None)).first()
    if (
        assignment is None
        or not Membership.objects.filter(project_id=assignment.project_id, user=user).exists()
    ):
        raise Http404("No such assignment.")
    return assignment
