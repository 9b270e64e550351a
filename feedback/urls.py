from django.urls import path

from feedback import views

app_name = "feedback"
urlpatterns = [
    path("projects/<int:project_id>/my-work/", views.my_work, name="my-work"),
    path(
        "projects/<int:project_id>/my-work/<int:annotation_id>/",
        views.change,
        name="change",
    ),
]
