from django.urls import path

from evaluation import apis

urlpatterns = [
    path(
        "projects/<int:project_id>/evaluation/",
        apis.EvaluationApi.as_view(),
        name="api-evaluation",
    ),
]
