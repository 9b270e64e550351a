from django.urls import path

from annotation import apis, apis_queue

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
    path("items/<int:item_id>/", apis.ItemDetailApi.as_view(), name="api-item"),
    path("projects/<int:project_id>/claim/", apis_queue.ClaimApi.as_view(), name="api-claim"),
    path(
        "assignments/<int:assignment_id>/submit/",
        apis_queue.SubmitApi.as_view(),
        name="api-submit",
    ),
    path("assignments/<int:assignment_id>/skip/", apis_queue.SkipApi.as_view(), name="api-skip"),
    path(
        "assignments/<int:assignment_id>/heartbeat/",
        apis_queue.HeartbeatApi.as_view(),
        name="api-heartbeat",
    ),
    path("assignments/<int:assignment_id>/draft/", apis_queue.DraftApi.as_view(), name="api-draft"),
]
