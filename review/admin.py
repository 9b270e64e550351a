from django.contrib import admin

from core.admin import ReadOnlyAdmin
from review.models import FinalRecord, Review


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["id", "item", "reviewer", "decision", "created_at"]


@admin.register(FinalRecord)
class FinalRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "item", "provenance", "approved_by", "is_current", "created_at"]
