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
    path(
        "items/<int:item_id>/review-judgement/",
        apis.ReviewJudgementApi.as_view(),
        name="api-review-judgement",
    ),
    path(
        "projects/<int:project_id>/review-claim/",
        apis.ReviewClaimApi.as_view(),
        name="api-review-claim",
    ),
    path(
        "review-leases/<int:lease_id>/heartbeat/",
        apis.ReviewLeaseHeartbeatApi.as_view(),
        name="api-review-lease-heartbeat",
    ),
    path(
        "review-leases/<int:lease_id>/release/",
        apis.ReviewLeaseReleaseApi.as_view(),
        name="api-review-lease-release",
    ),
]
