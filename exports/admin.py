from django.contrib import admin

from core.admin import ReadOnlyAdmin
from exports.models import ExportJob


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "format", "split", "status", "records", "created_at"]
