from celery import shared_task

from exports.services import export_build


@shared_task(name="exports.build", bind=True, acks_late=True, ignore_result=True)
def build_export(self, job_id: int) -> None:
    """Build one export. ``acks_late``: a worker killed mid-export leaves the message unacked,
    so it is delivered again and the job is rebuilt from scratch (a done job is left alone)."""
    export_build(job_id=job_id)
