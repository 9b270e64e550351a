from django.urls import path

from console import apis

urlpatterns = [
    path(
        "projects/<int:project_id>/dashboard/",
        apis.DashboardApi.as_view(),
        name="api-dashboard",
    ),
    path(
        "projects/<int:project_id>/items/bulk/",
        apis.ItemsBulkApi.as_view(),
        name="api-items-bulk",
    ),
]
