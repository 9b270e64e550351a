from django.apps import AppConfig


class RoutingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "routing"
    verbose_name = "Confidence routing and calibration"

    def ready(self) -> None:
        from annotation.importing import router_register
        from routing import policy, subscribers  # noqa: F401  (registers the event subscribers)

        router_register(policy.route_rows)
