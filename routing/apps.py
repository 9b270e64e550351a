from django.apps import AppConfig


class RoutingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "routing"
    verbose_name = "Confidence routing and calibration"

    def ready(self) -> None:
        from annotation.importing import router_register
        from annotation.services import settings_effect_register
        from routing import policy, rerouting, subscribers  # noqa: F401  (the subscribers)

        router_register(policy.route_rows)
        settings_effect_register(rerouting.reroute_after_settings)
