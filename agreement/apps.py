from django.apps import AppConfig


class AgreementConfig(AppConfig):
    name = "agreement"
    verbose_name = "Agreement"

    def ready(self) -> None:
        from agreement import subscribers  # noqa: F401  (registers the event subscribers)
