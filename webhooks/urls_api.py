from django.urls import path

from webhooks import apis

urlpatterns = [
    path(
        "projects/<int:project_id>/webhooks/",
        apis.ProjectWebhooksApi.as_view(),
        name="api-webhooks",
    ),
    path("webhooks/<int:webhook_id>/", apis.WebhookDetailApi.as_view(), name="api-webhook"),
    path(
        "webhooks/<int:webhook_id>/deliveries/",
        apis.WebhookDeliveriesApi.as_view(),
        name="api-webhook-deliveries",
    ),
    path(
        "deliveries/<int:delivery_id>/redeliver/",
        apis.RedeliverApi.as_view(),
        name="api-delivery-redeliver",
    ),
]
