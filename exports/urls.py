from django.urls import path

from exports import views

app_name = "exports"
urlpatterns = [
    path("projects/<int:project_id>/exports/", views.export_list, name="list"),
    path("projects/<int:project_id>/exports/new/", views.export_create, name="create"),
    path("exports/<int:export_id>/row/", views.export_row, name="row"),
    path("exports/<int:export_id>/download/", views.export_download, name="download"),
]
