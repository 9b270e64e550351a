from django.urls import path

from agreement import views

app_name = "agreement"
urlpatterns = [
    path("projects/<int:project_id>/agreement/", views.report, name="report"),
    path("projects/<int:project_id>/agreement/panel/", views.panel, name="panel"),
    path("projects/<int:project_id>/agreement/compute/", views.compute, name="compute"),
]
