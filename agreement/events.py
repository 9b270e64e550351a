"""What the agreement app announces (see core.events), after the transaction commits."""

from dataclasses import dataclass

from core.events import Event, event_type


@event_type
@dataclass(frozen=True)
class AgreementFinished(Event):
    """An agreement report was computed (`status` done) or failed (`status` failed)."""

    type = "agreement.finished"
    report_id: int
    status: str
