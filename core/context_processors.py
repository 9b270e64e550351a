from django.conf import settings
from django.http import HttpRequest


def runtime(request: HttpRequest) -> dict:
    """Lets every page say when background work runs in-process (no broker configured)."""
    return {"tasks_in_process": bool(settings.CELERY_TASK_ALWAYS_EAGER)}
