from django.urls import path

from annotation import apis

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
]
