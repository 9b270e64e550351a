from celery import shared_task

from annotation.queue import assignments_expire


@shared_task(name="annotation.expire_leases", ignore_result=True)
def expire_leases() -> int:
    return assignments_expire()
