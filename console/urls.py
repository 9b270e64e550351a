from django.urls import path

from console import views

app_name = "console"
urlpatterns = [
    path("projects/new/", views.project_new, name="new"),
    path("projects/<int:project_id>/settings/", views.project_settings, name="settings"),
    path("projects/<int:project_id>/guidelines/", views.guidelines, name="guidelines"),
    path(
        "projects/<int:project_id>/guidelines/preview/",
        views.guidelines_preview,
        name="guidelines-preview",
    ),
    path("projects/<int:project_id>/members/", views.members, name="members"),
    path("projects/<int:project_id>/members/add/", views.member_add, name="member-add"),
    path(
        "projects/<int:project_id>/members/<int:user_id>/role/",
        views.member_role,
        name="member-role",
    ),
    path(
        "projects/<int:project_id>/members/<int:user_id>/remove/",
        views.member_remove,
        name="member-remove",
    ),
    path(
        "projects/<int:project_id>/members/new-user/",
        views.member_user_create,
        name="user-create",
    ),
    path("projects/<int:project_id>/upload/", views.upload, name="upload"),
    path("projects/<int:project_id>/dashboard/", views.dashboard_page, name="dashboard"),
    path("projects/<int:project_id>/items/", views.items, name="items"),
    path("projects/<int:project_id>/items/<int:item_id>/", views.item, name="item"),
    path("projects/<int:project_id>/items/bulk/", views.items_bulk, name="items-bulk"),
    path(
        "projects/<int:project_id>/items/<int:item_id>/edit/",
        views.item_edit_page,
        name="item-edit",
    ),
    path(
        "projects/<int:project_id>/items/<int:item_id>/action/",
        views.item_action,
        name="item-action",
    ),
]
