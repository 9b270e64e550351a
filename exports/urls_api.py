from django.urls import path

from exports import apis

urlpatterns = [
    path(
        "projects/<int:project_id>/exports/",
        apis.ProjectExportsApi.as_view(),
        name="api-exports",
    ),
    path("exports/<int:export_id>/", apis.ExportDetailApi.as_view(), name="api-export"),
    path(
        "exports/<int:export_id>/download/",
        apis.ExportDownloadApi.as_view(),
        name="api-export-download",
    ),
]
