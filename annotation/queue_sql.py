"""The queue's hot paths as single PostgreSQL statements: the claim and the submit.

The ORM versions in `annotation/queue.py` cost 10 statements per claim and 11 per submit, and
most of a request's time went into building them. Here a claim is one statement (resume, pick,
lease, counters, pacing and audit in writable CTEs), a submit one statement that locks and
writes, both behind the same service functions and with the same invariants: every decision
about an item is made on its locked row, counters change with the rows they count.

Anything unusual (a lease that ran out, a lost lease, a retried submit) answers "slow path"
and the ORM code decides, so the rare cases keep one implementation.
"""

from functools import cache
from typing import Any

from annotation.models import Assignment, Item, Project
from core import db
from core.db import model_columns, model_instances, read_one

# Each parameter's type, written into the statements: they are prepared on the server (their
# plans cached per connection), where an untyped NULL would be read as text.
_TYPES = {
    "accepted": "boolean",
    "assignment": "bigint",
    "day": "date",
    "display_order": "text",
    "gold_answers": "integer",
    "gold_correct": "boolean",
    "gold_right": "integer",
    "guidelines_version": "integer",
    "may_complete": "boolean",
    "membership": "bigint",
    "now": "timestamptz",
    "payload": "jsonb",
    "project": "bigint",
    "rubric_version": "integer",
    "seconds": "double precision",
    "shown": "boolean",
    "sided": "text[]",
    "user": "bigint",
}


def typed(sql: str) -> str:
    return db.typed(sql, _TYPES)


# --- claim -------------------------------------------------------------------------------------

# An item the caller has seen: a live assignment of theirs on it (active, submitted or skipped;
# an expired lease does not count, so the item may come back to them).
# OFFSET 0 keeps it a probe of the (item, annotator) index per candidate: as an anti-join the
# planner would read all of the caller's assignments, which is the backlog this avoids.
_SEEN = """EXISTS (SELECT 1 FROM annotation_assignment s WHERE s.item_id = {item}
    AND s.annotator_id = %(user)s AND s.status <> 'expired' OFFSET 0)"""

# The locked row is the version this statement's snapshot read. A row changed and committed
# after the snapshot was taken is locked in its newest version, but subqueries still see the
# snapshot (READ COMMITTED): such a row is passed over (a claim) or sent to the ORM path (a
# submit), so every count this statement makes over the item's assignments is exact.
_UNCHANGED = "{i}.xmin = (SELECT u.xmin FROM annotation_item u WHERE u.id = {i}.id)"

# An open, non-gold item with a free slot (or a lease that ran out, expired by the claim).
_FREE = """{i}.project_id = %(project)s AND {i}.status = 'open' AND NOT {i}.is_gold
    AND ({i}.submitted_count + {i}.active_count < (SELECT overlap FROM cfg)
         OR {i}.lease_expires_at <= %(now)s)"""


# One item by its id, and nothing else the planner could choose an index for: the `partly`
# probe reads its candidates' items this way, driven from the candidates (a handful), whatever
# the planner believes of the queue indexes' ranges. (With the item's conditions beside the id,
# statistics taken before anyone annotated made the range `submitted_count > 0` look empty,
# and the planner walked it, the caller's own waiting items first: 230 ms at 100,000 of them,
# tests/annotation/test_queue_backlog.py.) OFFSET 0 keeps those conditions out of the subquery.
_BY_ID = "SELECT {i}.* FROM annotation_item {i} WHERE {i}.id = {id} OFFSET 0"


_FRESH = f"""i.submitted_count = 0 AND {_FREE.format(i="i")}
    AND NOT {_SEEN.format(item="i.id")}"""


# After "partly annotated first": the rest of the order by the project's `queue_order`, each
# matching a partial index of Item (item_queue, item_queue_uncertainty,
# item_queue_disagreement); queue.queue_order is the same order for the ORM's claim.
ORDER_KEYS = {
    "priority": "{t}.priority DESC",
    "uncertainty": "{t}.certainty ASC NULLS LAST",  # the least sure prediction first
    "disagreement": "{t}.disputed DESC, {t}.priority DESC",  # an earlier disputed round first
}


def claim_candidates_sql(order: str = "priority") -> str:
    """The queue order, as three locking probes of which the first that finds a row wins:

    * `gold`: a gold item when one is due (by id);
    * `partly`: items partly annotated by others. Each other annotator's waiting items come
      from the `assignment_queue_pending` index in priority order (an index skip-scan over the
      project's annotators), so the caller's own waiting items, however many, are never
      scanned; the candidates are ranked in the queue order from their items as this
      statement's snapshot saw them, then locked one at a time in that order by id until one
      is free and unchanged since (a lateral lookup under the LIMIT: the lookups stop at
      the first one taken);
    * `fresh`: items nobody has annotated in this round, by priority (in `uncertainty` order
      by certainty, in `disagreement` order disputed first then by priority) then age, from
      the `item_queue` (`item_queue_uncertainty`, `item_queue_disagreement`) index, its
      `submitted_count = 0` range.

    In `uncertainty` and `disagreement` order the `partly` probe ranks its candidates by that
    order too, but picks them from each annotator's waiting items in priority order.

    Each probe locks one row with `FOR UPDATE SKIP LOCKED`; a probe runs only when the ones
    before it found nothing, and none runs while the caller holds an active lease."""
    seen_a = _SEEN.format(item="a.item_id")
    seen_i = _SEEN.format(item="i.id")
    key = ORDER_KEYS[order]
    rank = f"c.submitted_count DESC, {key.format(t='c')}, c.item_id"
    return f"""
    annotators(id) AS (
        SELECT min(a.annotator_id) FROM annotation_assignment a
        WHERE a.project_id = %(project)s AND a.queue_pending
        UNION ALL
        SELECT (SELECT min(a.annotator_id) FROM annotation_assignment a
                WHERE a.project_id = %(project)s AND a.queue_pending AND a.annotator_id > o.id)
        FROM annotators o WHERE o.id IS NOT NULL
    ),
    gold AS (
        SELECT i.* FROM annotation_item i
        WHERE (SELECT gold_due FROM cfg) AND NOT EXISTS (SELECT 1 FROM held)
          AND i.project_id = %(project)s AND i.is_gold AND i.status = 'open'
          AND NOT {seen_i} AND {_UNCHANGED.format(i="i")}
        ORDER BY i.id
        LIMIT 1 FOR UPDATE OF i SKIP LOCKED
    ),
    candidates AS (
        SELECT c.* FROM annotators o CROSS JOIN LATERAL (
            SELECT a.item_id, j.submitted_count, j.priority, j.certainty, j.disputed
            FROM annotation_assignment a
            CROSS JOIN LATERAL ({_BY_ID.format(i="j", id="a.item_id")}) j
            WHERE a.project_id = %(project)s AND a.annotator_id = o.id AND a.queue_pending
              AND j.submitted_count > 0 AND {_FREE.format(i="j")} AND NOT {seen_a}
            ORDER BY a.queue_priority DESC, a.item_id
            LIMIT 4
        ) c
        WHERE o.id IS NOT NULL AND o.id <> %(user)s
    ),
    partly AS (
        SELECT i.* FROM (
            SELECT DISTINCT * FROM candidates c ORDER BY {rank}
        ) c CROSS JOIN LATERAL (
            SELECT i.* FROM annotation_item i
            WHERE i.id = c.item_id AND {_UNCHANGED.format(i="i")}
            FOR UPDATE OF i SKIP LOCKED
        ) i
        WHERE NOT EXISTS (SELECT 1 FROM held) AND NOT EXISTS (SELECT 1 FROM gold)
        ORDER BY {rank}
        LIMIT 1
    ),
    fresh AS (
        SELECT i.* FROM annotation_item i
        WHERE NOT EXISTS (SELECT 1 FROM held) AND NOT EXISTS (SELECT 1 FROM gold)
          AND NOT EXISTS (SELECT 1 FROM partly) AND {_FRESH}
          AND {_UNCHANGED.format(i="i")}
        ORDER BY i.submitted_count DESC, {key.format(t="i")}, i.id
        LIMIT 1 FOR UPDATE OF i SKIP LOCKED
    ),
    picked AS (
        SELECT * FROM gold UNION ALL SELECT * FROM partly UNION ALL SELECT * FROM fresh LIMIT 1
    )"""  # noqa: S608 (no user input: names of tables and columns)


def claim_sql(order: str = "priority") -> str:
    """One statement: resume the caller's live lease, or pick the next item (claim_candidates_sql),
    expire the item's run-out leases, lease it (insert, or revive the caller's expired row),
    recount the item's leases, count the serve for gold pacing and write the audit event.

    Answers one row: the outcome (`resumed`, `claimed`, `full`: the picked item had no free
    slot after all, `stale_own`: the caller's own lease ran out, `none`), then the assignment's
    and the item's columns."""
    lease = "%(now)s + make_interval(secs => (SELECT lease_seconds FROM cfg))"
    return f"""
    WITH RECURSIVE cfg AS (
        SELECT p.annotations_per_item AS overlap, p.lease_seconds,
               (p.gold_rate > 0 AND m.role = 'annotator'
                AND m.gold_served_count < p.gold_rate * (m.served_count + 1)) AS gold_due
        FROM annotation_membership m JOIN annotation_project p ON p.id = m.project_id
        WHERE m.id = %(membership)s
    ),
    held AS (
        SELECT a.id, a.expires_at FROM annotation_assignment a
        WHERE a.project_id = %(project)s AND a.annotator_id = %(user)s AND a.status = 'active'
    ),
    resumed AS (
        UPDATE annotation_assignment a SET expires_at = {lease}
        WHERE a.id IN (SELECT id FROM held WHERE expires_at > %(now)s)
        RETURNING a.*
    ),
    {claim_candidates_sql(order)},
    stale AS (
        UPDATE annotation_assignment a SET status = 'expired', finished_at = %(now)s
        FROM picked
        WHERE a.item_id = picked.id AND NOT picked.is_gold AND a.status = 'active'
          AND a.expires_at <= %(now)s
        RETURNING a.id
    ),
    leased AS (
        INSERT INTO annotation_assignment AS a
            (project_id, item_id, annotator_id, status, claimed_at, expires_at, finished_at,
             display_order, draft, draft_saved_at, skip_reason, skip_note, flagged,
             queue_pending, queue_priority)
        SELECT %(project)s, picked.id, %(user)s, 'active', %(now)s, {lease}, NULL,
               CASE WHEN picked.kind = ANY(%(sided)s)
                    THEN (CASE WHEN random() < 0.5 THEN 'AB' ELSE 'BA' END) ELSE '' END,
               NULL, NULL, '', '', false, false, 0
        FROM picked
        WHERE picked.is_gold OR picked.submitted_count + picked.active_count
              - (SELECT count(*) FROM stale) < (SELECT overlap FROM cfg)
        ON CONFLICT (item_id, annotator_id) DO UPDATE SET
            status = 'active', claimed_at = EXCLUDED.claimed_at,
            expires_at = EXCLUDED.expires_at, finished_at = NULL,
            display_order = EXCLUDED.display_order
        WHERE a.status = 'expired'
        RETURNING a.*
    ),
    counted AS (
        UPDATE annotation_item i SET
            active_count = i.active_count - (SELECT count(*) FROM stale)
                           + (SELECT count(*) FROM leased),
            lease_expires_at = LEAST(
                (SELECT min(s.expires_at) FROM annotation_assignment s
                 WHERE s.item_id = i.id AND s.status = 'active' AND s.expires_at > %(now)s),
                (SELECT expires_at FROM leased))
        FROM picked WHERE i.id = picked.id
    ),
    served AS (
        UPDATE annotation_membership m SET
            served_count = m.served_count + 1,
            gold_served_count = m.gold_served_count + (SELECT picked.is_gold::int FROM picked)
        WHERE m.id = %(membership)s AND EXISTS (SELECT 1 FROM leased)
    ),
    audited AS (
        INSERT INTO core_auditevent
            (project_id, actor_id, action, object_type, object_id, before, after, created_at)
        SELECT %(project)s, %(user)s, 'assignment.claim', 'annotation.assignment',
               leased.id::text, NULL,
               jsonb_build_object('item', leased.item_id, 'expires_at', leased.expires_at),
               %(now)s
        FROM leased
    ),
    outcome AS (
        SELECT CASE
            WHEN EXISTS (SELECT 1 FROM resumed) THEN 'resumed'
            WHEN EXISTS (SELECT 1 FROM leased) THEN 'claimed'
            WHEN EXISTS (SELECT 1 FROM picked) THEN 'full'
            WHEN EXISTS (SELECT 1 FROM held) THEN 'stale_own'
            -- nothing picked: items may be left that other claimers hold locked right now
            WHEN EXISTS (SELECT 1 FROM candidates)
                 OR EXISTS (SELECT 1 FROM annotation_item i WHERE {_FRESH}) THEN 'locked'
            ELSE 'none' END AS name
    )
    SELECT outcome.name, {model_columns(Assignment, "x")}, {model_columns(Item, "i")}
    FROM outcome
    LEFT JOIN (SELECT * FROM resumed UNION ALL SELECT * FROM leased) x ON true
    LEFT JOIN annotation_item i ON i.id = x.item_id
    """  # noqa: S608 (no user input: names of tables and columns)


_CLAIM_SQL: dict[str, str] = {}  # by queue order


def claim_once(
    *,
    membership_id: int,
    project_id: int,
    user_id: int,
    now: Any,
    sided: list[str],
    order: str = "priority",
) -> tuple[str, Assignment | None]:
    if order not in _CLAIM_SQL:
        _CLAIM_SQL[order] = typed(claim_sql(order))
    params = {
        "membership": membership_id,
        "project": project_id,
        "user": user_id,
        "now": now,
        "sided": sided,
    }
    row = read_one(_CLAIM_SQL[order], params)
    outcome = row[0]
    if outcome not in ("resumed", "claimed"):
        return outcome, None
    assignment, item = model_instances(row[1:], Assignment, Item)
    assignment.item = item
    return outcome, assignment


# --- submit ------------------------------------------------------------------------------------


@cache
def submit_read_sql() -> str:
    """The assignment, its item and project, whether the caller is a member, without a lock:
    what validating the payload needs, read before the locking transaction starts."""
    return typed(f"""
    SELECT {model_columns(Assignment, "a")}, {model_columns(Item, "i")},
           {model_columns(Project, "p")},
           EXISTS (SELECT 1 FROM annotation_membership m
                   WHERE m.project_id = a.project_id AND m.user_id = %(user)s)
    FROM annotation_assignment a
    JOIN annotation_item i ON i.id = a.item_id
    JOIN annotation_project p ON p.id = a.project_id
    WHERE a.id = %(assignment)s AND a.annotator_id = %(user)s
    """)  # noqa: S608 (no user input: names of tables and columns)


def submit_read(
    *, assignment_id: int, user_id: int
) -> tuple[Assignment, Item, Project, bool] | None:
    row = read_one(submit_read_sql(), {"assignment": assignment_id, "user": user_id})
    if row is None:
        return None
    assignment, item, project, member = model_instances(row, Assignment, Item, Project)
    return assignment, item, project, member


SUBMIT_SQL_TEXT = """
WITH locked AS (
    SELECT i.id, i.submitted_count, i.round, i.is_gold, i.priority,
           p.annotations_per_item AS overlap
    FROM annotation_item i
    JOIN annotation_assignment a ON a.item_id = i.id
    JOIN annotation_project p ON p.id = i.project_id
    WHERE a.id = %(assignment)s AND a.annotator_id = %(user)s AND a.status = 'active'
      AND a.expires_at > %(now)s AND i.status = 'open'
      AND (%(may_complete)s OR i.is_gold OR i.submitted_count + 1 < p.annotations_per_item)
      AND i.xmin = (SELECT u.xmin FROM annotation_item u WHERE u.id = i.id)
    FOR UPDATE OF i, a
),
annotated AS (
    INSERT INTO "annotation_annotation"
        (project_id, item_id, annotator_id, assignment_id, payload, display_order,
         seconds_spent, guidelines_version, gold_correct, round, suggestion_shown,
         suggestion_accepted, rubric_version, created_at, updated_at)
    SELECT %(project)s, locked.id, %(user)s, %(assignment)s, %(payload)s, %(display_order)s,
           %(seconds)s, %(guidelines_version)s, %(gold_correct)s, locked.round, %(shown)s,
           %(accepted)s, %(rubric_version)s, %(now)s, NULL
    FROM locked
    RETURNING id, round
),
finished AS (
    UPDATE annotation_assignment a SET
        status = 'submitted', finished_at = %(now)s, draft = NULL,
        queue_pending = NOT locked.is_gold AND locked.submitted_count + 1 < locked.overlap,
        queue_priority = locked.priority
    FROM locked WHERE a.id = %(assignment)s
),
released AS (
    UPDATE annotation_assignment a SET queue_pending = false
    FROM locked
    WHERE a.item_id = locked.id AND a.queue_pending AND a.id <> %(assignment)s
      AND locked.submitted_count + 1 >= locked.overlap
),
counted AS (
    UPDATE annotation_item i SET
        submitted_count = i.submitted_count + 1,
        active_count = (SELECT count(*) FROM annotation_assignment s
                        WHERE s.item_id = i.id AND s.status = 'active' AND s.id <> %(assignment)s),
        lease_expires_at = (SELECT min(s.expires_at) FROM annotation_assignment s
                            WHERE s.item_id = i.id AND s.status = 'active'
                              AND s.id <> %(assignment)s)
    FROM locked WHERE i.id = locked.id
    RETURNING i.submitted_count, i.active_count
),
day AS (
    INSERT INTO annotation_annotatorday
        (project_id, annotator_id, day, annotations, gold_answers, gold_correct)
    SELECT %(project)s, %(user)s, %(day)s, 1, %(gold_answers)s, %(gold_right)s FROM locked
    ON CONFLICT (project_id, annotator_id, day) DO UPDATE SET
        annotations = annotation_annotatorday.annotations + EXCLUDED.annotations,
        gold_answers = annotation_annotatorday.gold_answers + EXCLUDED.gold_answers,
        gold_correct = annotation_annotatorday.gold_correct + EXCLUDED.gold_correct
),
audited AS (
    INSERT INTO core_auditevent
        (project_id, actor_id, action, object_type, object_id, before, after, created_at)
    SELECT %(project)s, %(user)s, 'annotation.submit', 'annotation.annotation',
           annotated.id::text, NULL,
           jsonb_build_object('item', locked.id, 'payload', %(payload)s::jsonb), %(now)s
    FROM annotated, locked
)
SELECT annotated.id, annotated.round, counted.submitted_count, counted.active_count,
       locked.overlap, locked.is_gold,
       -- whether someone may still be served the item (else it stalls): only asked when
       -- the item waits for others with no lease on it
       CASE WHEN locked.is_gold OR counted.active_count > 0
                 OR counted.submitted_count >= locked.overlap THEN true
            ELSE EXISTS (
                SELECT 1 FROM annotation_membership m
                WHERE m.project_id = %(project)s AND NOT EXISTS (
                    SELECT 1 FROM annotation_assignment s WHERE s.item_id = locked.id
                    AND s.annotator_id = m.user_id AND s.status <> 'expired'))
       END
FROM annotated, locked, counted
"""


SUBMIT_SQL = typed(SUBMIT_SQL_TEXT)
