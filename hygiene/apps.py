from django.apps import AppConfig


class HygieneConfig(AppConfig):
    name = "hygiene"
    verbose_name = "Dataset hygiene"

    def ready(self) -> None:
        from hygiene import services

        services.register_import_check()
