from django.urls import path

from review import agreement_views

app_name = "agreement"
urlpatterns = [
    path("projects/<int:project_id>/agreement/", agreement_views.report, name="report"),
    path("projects/<int:project_id>/agreement/panel/", agreement_views.panel, name="panel"),
    path("projects/<int:project_id>/agreement/compute/", agreement_views.compute, name="compute"),
]
