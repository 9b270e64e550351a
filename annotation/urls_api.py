from django.urls import path

from annotation import apis, queue_apis

urlpatterns = [
    path("projects/", apis.ProjectListCreateApi.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", apis.ProjectDetailApi.as_view(), name="api-project"),
    path("projects/<int:project_id>/members/", apis.MemberApi.as_view(), name="api-members"),
    path(
        "projects/<int:project_id>/members/<int:user_id>/",
        apis.MemberDetailApi.as_view(),
        name="api-member",
    ),
    path("projects/<int:project_id>/items/", apis.ItemsApi.as_view(), name="api-items"),
    # GET reads an item (ItemDetailApi), PATCH edits it (leads).
    path("items/<int:item_id>/", apis.ItemEditApi.as_view(), name="api-item"),
    path("projects/<int:project_id>/claim/", queue_apis.ClaimApi.as_view(), name="api-claim"),
    path(
        "assignments/<int:assignment_id>/submit/",
        queue_apis.SubmitApi.as_view(),
        name="api-submit",
    ),
    path("assignments/<int:assignment_id>/skip/", queue_apis.SkipApi.as_view(), name="api-skip"),
    path(
        "assignments/<int:assignment_id>/heartbeat/",
        queue_apis.HeartbeatApi.as_view(),
        name="api-heartbeat",
    ),
    path("assignments/<int:assignment_id>/draft/", queue_apis.DraftApi.as_view(), name="api-draft"),
    path(
        "annotations/<int:annotation_id>/",
        queue_apis.AnnotationApi.as_view(),
        name="api-annotation",
    ),
    path("items/<int:item_id>/requeue/", apis.ItemRequeueApi.as_view(), name="api-requeue"),
    path("items/<int:item_id>/drop/", apis.ItemDropApi.as_view(), name="api-drop"),
]
