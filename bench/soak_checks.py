"""The soak's invariants, checked in SQL after the run (bench/soak.py), and by
tests/bench/test_soak_checks.py on database states broken on purpose.

Each check returns a list of problems (empty when the invariant holds), each a sentence with up
to a few examples. They read the database through Django's connection (the soak's process sets
Django up on the soak's database; the tests run on the test database) and take what the clients
saw from outside: the submits answered 2xx, the submits whose outcome they never learnt (the
connection dropped, a 503), and the export and agreement jobs answered 202.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

EXAMPLES = 5


@dataclass
class Seen:
    """What the clients saw: assignment id -> (annotation id, annotator id) for every submit
    answered 2xx (a replay answers with the same annotation), the assignments of submits whose
    outcome stayed unknown, and the jobs requested."""

    submits: dict[int, tuple[int, int]] = field(default_factory=dict)
    uncertain: set[int] = field(default_factory=set)
    exports: set[int] = field(default_factory=set)
    reports: set[int] = field(default_factory=set)


def _rows(sql: str, params: Iterable = ()) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def _problem(what: str, rows: list) -> list[str]:
    if not rows:
        return []
    shown = ", ".join(
        str(row[0] if isinstance(row, tuple) and len(row) == 1 else row) for row in rows[:EXAMPLES]
    )
    more = f" (and {len(rows) - EXAMPLES} more)" if len(rows) > EXAMPLES else ""
    return [f"{what}: {len(rows)}, e.g. {shown}{more}"]


# --- submits -------------------------------------------------------------------------------------


def submit_problems(project_id: int, seen: Seen) -> list[str]:
    """Every submit a client saw answered 2xx has exactly one annotation row, the one it was
    told, by that client, on a submitted assignment; no annotation exists that no client
    submitted; no submit made two rows."""
    stored = {
        assignment: (annotation, annotator, status)
        for annotation, assignment, annotator, status in _rows(
            """SELECT a.id, a.assignment_id, a.annotator_id, s.status
               FROM annotation_annotation a JOIN annotation_assignment s ON s.id = a.assignment_id
               WHERE a.project_id = %s""",
            [project_id],
        )
    }
    problems = []
    lost = [
        (assignment, annotation)
        for assignment, (annotation, _) in sorted(seen.submits.items())
        if assignment not in stored
    ]
    problems += _problem("submits answered 2xx with no annotation row (lost)", lost)
    wrong = [
        (assignment, annotation, stored[assignment][:2])
        for assignment, (annotation, annotator) in sorted(seen.submits.items())
        if assignment in stored and stored[assignment][:2] != (annotation, annotator)
    ]
    problems += _problem(
        "submits answered 2xx whose row is another annotation or annotator (assignment, told, "
        "stored)",
        wrong,
    )
    unsubmitted = [
        (assignment, status)
        for assignment, (_, _, status) in sorted(stored.items())
        if status != "submitted"
    ]
    problems += _problem("annotations on an assignment not marked submitted", unsubmitted)
    phantom = [
        (assignment, annotation)
        for assignment, (annotation, _, _) in sorted(stored.items())
        if assignment not in seen.submits and assignment not in seen.uncertain
    ]
    problems += _problem("annotations no client submitted", phantom)
    problems += _problem(
        "assignments with more than one annotation (duplicated submits)",
        _rows(
            """SELECT assignment_id, count(*) FROM annotation_annotation WHERE project_id = %s
               GROUP BY assignment_id HAVING count(*) > 1 ORDER BY assignment_id""",
            [project_id],
        ),
    )
    problems += _problem(
        "items annotated twice by one annotator (item, annotator, rows)",
        _rows(
            """SELECT item_id, annotator_id, count(*) FROM annotation_annotation
               WHERE project_id = %s GROUP BY item_id, annotator_id HAVING count(*) > 1
               ORDER BY item_id""",
            [project_id],
        ),
    )
    return problems


# --- overlap -------------------------------------------------------------------------------------


def overlap_problems(project_id: int) -> list[str]:
    """No item (gold items aside: they are answered by everyone, never completed) holds more
    annotations in a round, or annotations and live leases, than the project's overlap."""
    problems = _problem(
        "items with more annotations in a round than the overlap (item, round, annotations)",
        _rows(
            """SELECT a.item_id, a.round, count(*) FROM annotation_annotation a
               JOIN annotation_item i ON i.id = a.item_id
               JOIN annotation_project p ON p.id = i.project_id
               WHERE i.project_id = %s AND NOT i.is_gold
               GROUP BY a.item_id, a.round, p.annotations_per_item
               HAVING count(*) > p.annotations_per_item ORDER BY a.item_id""",
            [project_id],
        ),
    )
    problems += _problem(
        "items whose annotations and active leases exceed the overlap (item, annotations, leases)",
        _rows(
            """SELECT i.id, count(DISTINCT a.id), count(DISTINCT s.id) FROM annotation_item i
               JOIN annotation_project p ON p.id = i.project_id
               LEFT JOIN annotation_annotation a ON a.item_id = i.id AND a.round = i.round
               LEFT JOIN annotation_assignment s ON s.item_id = i.id AND s.status = 'active'
               WHERE i.project_id = %s AND NOT i.is_gold
               GROUP BY i.id, p.annotations_per_item
               HAVING count(DISTINCT a.id) + count(DISTINCT s.id) > p.annotations_per_item
               ORDER BY i.id""",
            [project_id],
        ),
    )
    return problems


# --- counters ------------------------------------------------------------------------------------


def counter_problems(project_id: int) -> list[str]:
    """Every denormalised counter equals a count of the rows it stands for."""
    p = [project_id]
    problems = _problem(
        "items whose submitted_count is not their annotations in the round (item, counter, rows)",
        _rows(
            """SELECT i.id, i.submitted_count, count(a.id) FROM annotation_item i
               LEFT JOIN annotation_annotation a ON a.item_id = i.id AND a.round = i.round
               WHERE i.project_id = %s GROUP BY i.id
               HAVING i.submitted_count <> count(a.id) ORDER BY i.id""",
            p,
        ),
    )
    problems += _problem(
        "items whose active_count or lease_expires_at is not their active leases' "
        "(item, counter, rows, hint, earliest)",
        _rows(
            """SELECT i.id, i.active_count, count(s.id), i.lease_expires_at, min(s.expires_at)
               FROM annotation_item i
               LEFT JOIN annotation_assignment s ON s.item_id = i.id AND s.status = 'active'
               WHERE i.project_id = %s GROUP BY i.id
               HAVING i.active_count <> count(s.id)
                   OR i.lease_expires_at IS DISTINCT FROM min(s.expires_at)
               ORDER BY i.id""",
            p,
        ),
    )
    problems += _problem(
        "item tallies that are not the items' count (kind, status, gold, tally, items)",
        _rows(
            """WITH counted AS (
                   SELECT kind, status, is_gold, count(*) AS n FROM annotation_item
                   WHERE project_id = %s GROUP BY kind, status, is_gold),
               tallied AS (
                   SELECT kind, status, is_gold, count AS n FROM annotation_itemtally
                   WHERE project_id = %s)
               SELECT coalesce(t.kind, c.kind), coalesce(t.status, c.status),
                      coalesce(t.is_gold, c.is_gold), coalesce(t.n, 0), coalesce(c.n, 0)
               FROM tallied t FULL JOIN counted c
                 ON c.kind = t.kind AND c.status = t.status AND c.is_gold = t.is_gold
               WHERE coalesce(t.n, 0) <> coalesce(c.n, 0) ORDER BY 1, 2, 3""",
            [project_id, project_id],
        ),
    )
    problems += _problem(
        "annotator days that are not the annotations' counts "
        "(annotator, day, rollup [annotations, gold, correct], rows)",
        _rows(
            """WITH counted AS (
                   SELECT annotator_id, (created_at AT TIME ZONE 'UTC')::date AS day,
                          count(*) AS n, count(gold_correct) AS gold,
                          count(*) FILTER (WHERE gold_correct) AS ok
                   FROM annotation_annotation WHERE project_id = %s
                   GROUP BY annotator_id, day),
               rolled AS (
                   SELECT annotator_id, day, annotations AS n, gold_answers AS gold,
                          gold_correct AS ok
                   FROM annotation_annotatorday WHERE project_id = %s)
               SELECT coalesce(r.annotator_id, c.annotator_id), coalesce(r.day, c.day),
                      ARRAY[r.n, r.gold, r.ok], ARRAY[c.n, c.gold, c.ok]
               FROM rolled r FULL JOIN counted c
                 ON c.annotator_id = r.annotator_id AND c.day = r.day
               WHERE (r.n, r.gold, r.ok) IS DISTINCT FROM (c.n, c.gold, c.ok) ORDER BY 1, 2""",
            [project_id, project_id],
        ),
    )
    problems += _problem(
        "memberships whose served counts are not their claims "
        "(user, served, claims, gold served, gold claims)",
        _rows(
            """WITH claims AS (
                   SELECT e.actor_id, count(*) AS n, count(*) FILTER (WHERE i.is_gold) AS gold
                   FROM core_auditevent e
                   JOIN annotation_item i ON i.id = (e.after ->> 'item')::bigint
                   WHERE e.project_id = %s AND e.action = 'assignment.claim'
                   GROUP BY e.actor_id)
               SELECT m.user_id, m.served_count, coalesce(c.n, 0), m.gold_served_count,
                      coalesce(c.gold, 0)
               FROM annotation_membership m LEFT JOIN claims c ON c.actor_id = m.user_id
               WHERE m.project_id = %s AND (m.served_count <> coalesce(c.n, 0)
                     OR m.gold_served_count <> coalesce(c.gold, 0))
               ORDER BY 1""",
            [project_id, project_id],
        ),
    )
    problems += _problem(
        "items whose current final records do not match their status (item, status, current)",
        _rows(
            """SELECT i.id, i.status, count(f.id) FROM annotation_item i
               LEFT JOIN review_finalrecord f ON f.item_id = i.id AND f.is_current
               WHERE i.project_id = %s GROUP BY i.id
               HAVING count(f.id) <> CASE WHEN i.status = 'approved' THEN 1 ELSE 0 END
               ORDER BY i.id""",
            p,
        ),
    )
    problems += _problem(
        "items whose status does not fit their annotations (item, status, submitted, overlap)",
        _rows(
            """SELECT i.id, i.status, i.submitted_count, p.annotations_per_item
               FROM annotation_item i JOIN annotation_project p ON p.id = i.project_id
               WHERE i.project_id = %s AND NOT i.is_gold AND (
                   (i.status IN ('open', 'stalled')
                    AND i.submitted_count >= p.annotations_per_item)
                   OR (i.status IN ('in_review', 'approved')
                       AND i.submitted_count < p.annotations_per_item))
               ORDER BY i.id""",
            p,
        ),
    )
    return problems


# --- jobs ----------------------------------------------------------------------------------------

# Each job kind: its table, the outbox task that builds it, the audit action of its completion.
JOBS = {
    "export": ("exports_exportjob", "exports.build", "export.done"),
    "agreement report": ("review_agreementreport", "agreement.report", "agreement_report.done"),
    "evaluation report": (
        "evaluation_evaluationreport",
        "evaluation.report",
        "evaluation_report.done",
    ),
}


def job_problems(project_id: int, seen: Seen, *, media_root: Path | None = None) -> list[str]:
    """Every job requested (the 202s the clients saw, and the reports the app scheduled by
    itself) exists, is done, finished exactly once (one completion in the audit trail) and has
    its outbox row done; an export's file is there, once, with its sha256, and no attempt left a
    temporary file behind; no outbox row of the project is left unfinished."""
    problems: list[str] = []
    requested_by_label = {"export": seen.exports, "agreement report": seen.reports}
    for label, (table, task, done) in JOBS.items():
        requested = requested_by_label.get(label, set())
        rows = _rows(
            f"""SELECT j.id, j.status, o.state,
                       (SELECT count(*) FROM core_auditevent e
                        WHERE e.project_id = j.project_id AND e.action = %s
                          AND e.object_id = j.id::text)
                FROM {table} j
                LEFT JOIN core_outboxjob o ON o.key = %s || ':' || j.id
                WHERE j.project_id = %s ORDER BY j.id""",
            [done, task, project_id],
        )
        ids = {row[0] for row in rows}
        problems += _problem(f"{label}s requested (202) with no row", sorted(requested - ids))
        problems += _problem(
            f"{label}s not done (id, status, outbox state)",
            [(i, status, state) for i, status, state, _ in rows if status != "done"],
        )
        problems += _problem(
            f"{label}s whose outbox job is not done (id, outbox state)",
            [(i, state) for i, status, state, _ in rows if status == "done" and state != "done"],
        )
        problems += _problem(
            f"{label}s not finished exactly once (id, completions)",
            [(i, n) for i, _, _, n in rows if n != 1],
        )
    problems += _problem(
        "outbox jobs left unfinished (id, task, state, error)",
        _rows(
            """SELECT o.id, o.task, o.state, left(o.error, 120) FROM core_outboxjob o
               WHERE o.state <> 'done' AND (
                   o.key IN (SELECT 'exports.build:' || id FROM exports_exportjob
                             WHERE project_id = %s)
                   OR o.key IN (SELECT 'agreement.report:' || id FROM review_agreementreport
                                WHERE project_id = %s)
                   OR o.key IN (SELECT 'evaluation.report:' || id
                                FROM evaluation_evaluationreport WHERE project_id = %s)
                   OR o.key IS NULL)
               ORDER BY o.id""",
            [project_id, project_id, project_id],
        ),
    )
    if media_root is not None:
        problems += export_file_problems(project_id, media_root)
    return problems


def export_file_problems(project_id: int, media_root: Path) -> list[str]:
    """A done export's file exists with the sha256 and size recorded, beside its manifest and
    nothing else; no temporary file of an attempt is left."""
    missing, mismatched, extra = [], [], []
    for job_id, name, sha256, size in _rows(
        """SELECT id, file, sha256, size_bytes FROM exports_exportjob
           WHERE project_id = %s AND status = 'done' ORDER BY id""",
        [project_id],
    ):
        path = media_root / name
        if not name or not path.is_file():
            missing.append((job_id, name))
            continue
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256 or len(data) != size:
            mismatched.append(job_id)
        others = sorted(
            p.name
            for p in path.parent.iterdir()
            if p.name not in {path.name, f"{path.name}.manifest.json"}
        )
        if others:
            extra.append((job_id, others))
    leftovers = sorted(p.name for p in (media_root / "tmp").glob("export-*"))
    return (
        _problem("done exports without their file (id, name)", missing)
        + _problem("export files whose sha256 or size is not the job's", mismatched)
        + _problem("export folders holding more than the file and its manifest", extra)
        + _problem("temporary export files left behind", [(n,) for n in leftovers])
    )


def all_problems(
    project_id: int, seen: Seen, *, media_root: Path | None = None
) -> Mapping[str, list[str]]:
    return {
        "submits": submit_problems(project_id, seen),
        "overlap": overlap_problems(project_id),
        "counters": counter_problems(project_id),
        "jobs": job_problems(project_id, seen, media_root=media_root),
    }
