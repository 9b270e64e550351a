from django.urls import path

from routing import apis

urlpatterns = [
    path(
        "projects/<int:project_id>/calibration/",
        apis.CalibrationApi.as_view(),
        name="api-calibration",
    ),
]
