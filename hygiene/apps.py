from typing import Any

from django.apps import AppConfig


class HygieneConfig(AppConfig):
    name = "hygiene"
    verbose_name = "Dataset hygiene"

    def ready(self) -> None:
        from annotation.importing import import_checks

        if "hygiene" not in import_checks:
            import_checks.register("hygiene")(_items_check)


def _items_check(**kwargs: Any) -> None:
    """``hygiene.services.items_check``, its module loaded by the first import that runs it:
    the near-duplicate keys need numpy, which a worker that never imports items (an export's)
    does not load."""
    from hygiene.services import items_check

    items_check(**kwargs)
