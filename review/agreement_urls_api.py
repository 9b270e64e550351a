from django.urls import path

from review import agreement_apis

urlpatterns = [
    path(
        "projects/<int:project_id>/agreement/",
        agreement_apis.AgreementApi.as_view(),
        name="api-agreement",
    ),
]
