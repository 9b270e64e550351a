from django.urls import path

from agreement import apis

urlpatterns = [
    path(
        "projects/<int:project_id>/agreement/",
        apis.AgreementApi.as_view(),
        name="api-agreement",
    ),
]
