from django.contrib import admin

from annotation.models import Annotation, Assignment, Item, Membership, Project
from core.admin import ReadOnlyAdmin


@admin.register(Project)
class ProjectAdmin(ReadOnlyAdmin):
    """Settings change through the API and the lead's pages, which validate and audit them."""

    list_display = ["id", "name", "annotations_per_item", "created_at"]
    search_fields = ["name"]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["project", "user", "role"]
    list_filter = ["role"]


@admin.register(Item)
class ItemAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "external_id", "kind", "status", "split", "is_gold"]
    list_filter = ["kind", "status", "split", "is_gold"]
    search_fields = ["external_id"]


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["id", "item", "annotator", "status", "expires_at"]
    list_filter = ["status"]


@admin.register(Annotation)
class AnnotationAdmin(ReadOnlyAdmin):
    list_display = ["id", "item", "annotator", "created_at", "gold_correct"]
