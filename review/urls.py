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
]
