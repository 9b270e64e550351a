from django.urls import path

from feedback import apis

urlpatterns = [
    path("projects/<int:project_id>/my-work/", apis.MyWorkApi.as_view(), name="api-my-work"),
]
