from django.urls import path

from evaluation import views

app_name = "evaluation"
urlpatterns = [
    path("projects/<int:project_id>/evaluation/", views.report, name="report"),
    path("projects/<int:project_id>/evaluation/panel/", views.panel, name="panel"),
    path("projects/<int:project_id>/evaluation/compute/", views.compute, name="compute"),
    path(
        "projects/<int:project_id>/evaluation/<int:report_id>/download/",
        views.download,
        name="download",
    ),
]
