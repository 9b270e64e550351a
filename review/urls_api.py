from django.urls import path

from review import apis

urlpatterns = [
    path(
        "projects/<int:project_id>/review-queue/",
        apis.ReviewQueueApi.as_view(),
        name="api-review-queue",
    ),
    path("items/<int:item_id>/review/", apis.ReviewApi.as_view(), name="api-review"),
    path("items/<int:item_id>/reopen/", apis.ReopenApi.as_view(), name="api-reopen"),
]
