from django.contrib import admin

from agreement.models import AgreementReport
from core.admin import ReadOnlyAdmin


@admin.register(AgreementReport)
class AgreementReportAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "status", "computed_at"]
