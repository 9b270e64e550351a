from django.urls import path

from review import views

app_name = "review"
urlpatterns = [
    path("projects/<int:project_id>/review/", views.queue, name="queue"),
    path(
        "projects/<int:project_id>/review/items/<int:item_id>/decide/",
        views.decide,
        name="decide",
    ),
    path("projects/<int:project_id>/review/items/<int:item_id>/skip/", views.skip, name="skip"),
    path("projects/<int:project_id>/review/skipped/", views.skips_clear, name="skips-clear"),
    path("projects/<int:project_id>/review/list/", views.review_list, name="list"),
    path("projects/<int:project_id>/review/items/<int:item_id>/", views.open_item, name="open"),
    path(
        "projects/<int:project_id>/review/leases/<int:lease_id>/heartbeat/",
        views.lease_heartbeat,
        name="lease-heartbeat",
    ),
]
