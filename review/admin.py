from django.contrib import admin

from core.admin import ReadOnlyAdmin
from review.models import AgreementReport, FinalRecord, Review


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["id", "item", "reviewer", "decision", "created_at"]


@admin.register(FinalRecord)
class FinalRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "item", "provenance", "approved_by", "is_current", "created_at"]


@admin.register(AgreementReport)
class AgreementReportAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "status", "computed_at"]
