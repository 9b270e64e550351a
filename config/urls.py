from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from annotation import views as annotation_views
from core import api_docs
from core import apis as core_apis

api_v1 = [
    path("auth/token/", core_apis.TokenApi.as_view(), name="api-token"),
    path("users/", core_apis.UserCreateApi.as_view(), name="api-users"),
    path("", include("annotation.urls_api")),
    path("", include("review.urls_api")),
    path("", include("team.urls_api")),
    path("", include("agreement.urls_api")),
    path("", include("exports.urls_api")),
    path("", include("routing.urls_api")),
    path("", include("evaluation.urls_api")),
    path("", include("console.urls_api")),
    path("", include("feedback.urls_api")),
    path("", include("webhooks.urls_api")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs.SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", api_docs.RedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("healthz", core_apis.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", annotation_views.home, name="home"),
    path("", include("core.urls")),
    path("", include("annotation.urls")),
    path("", include("review.urls")),
    path("", include("team.urls")),
    path("", include("agreement.urls")),
    path("", include("exports.urls")),
    path("", include("routing.urls")),
    path("", include("evaluation.urls")),
    path("", include("console.urls")),
    path("", include("feedback.urls")),
    path("", include("webhooks.urls")),
]

handler404 = "core.views.not_found"
