from django.urls import path

from webhooks import views

app_name = "webhooks"
urlpatterns = [
    path("projects/<int:project_id>/webhooks/", views.webhook_list, name="list"),
    path("projects/<int:project_id>/webhooks/new/", views.webhook_create, name="create"),
    path("webhooks/<int:webhook_id>/", views.webhook_deliveries, name="deliveries"),
    path("webhooks/<int:webhook_id>/toggle/", views.webhook_toggle, name="toggle"),
    path("webhooks/<int:webhook_id>/delete/", views.webhook_delete, name="delete"),
    path("deliveries/<int:delivery_id>/redeliver/", views.delivery_redeliver, name="redeliver"),
]
