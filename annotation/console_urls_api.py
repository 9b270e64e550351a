from django.urls import path

from annotation import console_apis

urlpatterns = [
    path(
        "projects/<int:project_id>/dashboard/",
        console_apis.DashboardApi.as_view(),
        name="api-dashboard",
    ),
]
