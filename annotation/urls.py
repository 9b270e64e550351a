from django.urls import path

from annotation import views

app_name = "annotation"
urlpatterns = [
    path("projects/<int:project_id>/", views.project, name="project"),
    path("projects/<int:project_id>/work/", views.work, name="work"),
    path("assignments/<int:assignment_id>/submit/", views.submit, name="submit"),
    path("assignments/<int:assignment_id>/skip/", views.skip, name="skip"),
    path("assignments/<int:assignment_id>/heartbeat/", views.heartbeat, name="heartbeat"),
    path("assignments/<int:assignment_id>/draft/", views.draft, name="draft"),
]
