"""A Celery app for the worker-kill tests: the project's app, with every exported record taking
RUBRIC_TEST_SECONDS_PER_RECORD, so a test can SIGKILL the worker half way through an export.

    celery -A tests.slow_worker worker ...
"""

import os
import time

from celery.signals import worker_init

from config.celery import app

__all__ = ["app"]


@worker_init.connect
def slow_down_exports(**kwargs) -> None:
    import django

    django.setup()
    from exports import selectors

    pause = float(os.environ.get("RUBRIC_TEST_SECONDS_PER_RECORD", "0.05"))
    rows = selectors.export_record_rows

    def slow_rows(**options):
        for row in rows(**options):
            time.sleep(pause)
            yield row

    selectors.export_record_rows = slow_rows
