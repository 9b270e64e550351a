from django.urls import path

from routing import views

app_name = "routing"
urlpatterns = [
    path("projects/<int:project_id>/calibration/", views.report, name="report"),
    path("projects/<int:project_id>/calibration/panel/", views.panel, name="panel"),
    path("projects/<int:project_id>/calibration/compute/", views.compute, name="compute"),
]
