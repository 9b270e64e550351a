"""What the exports app announces (see core.events), after the transaction commits."""

from dataclasses import dataclass

from core.events import Event, event_type


@event_type
@dataclass(frozen=True)
class ExportFinished(Event):
    """An export job ended: its file and manifest are stored (`status` done), or it failed."""

    type = "export.finished"
    export_id: int
    status: str
