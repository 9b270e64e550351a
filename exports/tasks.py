from core import outbox
from exports.services import BUILD_TASK, export_build, export_give_up, export_requeued


@outbox.job(BUILD_TASK, on_requeue=export_requeued, on_give_up=export_give_up)
def build_export(job_id: int) -> None:
    """Build one export, through the outbox (core/outbox.py): a heartbeat while it runs; a
    worker killed mid-export has its job handed to the queue again by the sweeper (up to three
    runs, then it fails with the reason), and the build starts from scratch (one file under a
    fixed name, the previous attempt's temporary file removed)."""
    export_build(job_id=job_id)
