"""The lead's dashboard: progress, activity, agreement over time, annotator quality, coverage.

Every figure comes from a fixed number of aggregate (GROUP BY) queries, whatever the size of
the project, and none of them reads the annotations or the items' JSON:

* progress: the ItemTally rollup (items by kind, status and gold flag, kept by the import
  and the status changes);
* activity: the AnnotatorDay rollup (a row per annotator and active day, kept by the submit);
* annotators: the project's users, the recent agreement reports and the newest one's rows;
* coverage: the current final records by kind, category and decision (index-only scan of the
  partial final_record_coverage index; the columns are copied from the payload when the record
  is written), plus, only while a kind has nothing approved, the categories given at import;
* duplicates: the items flagged `has_duplicate` at import (the partial item_duplicates index);
* reviewers and the model's answers: the decided prediction checks (review.guards), one row
  per decision on an item with a prediction (the partial prediction_check_decided index), as
  the median decision time needs every time.

What still grows with the project: the coverage scan reads one index entry per approved
instruction or refusal item, the reviewers' figures one row per reviewed item with a
prediction, and the rollups grow with annotators x days, not with items.
bench/dashboard.py measures the pages at 10,000 and 100,000 items.

Choices worth knowing:

* Coverage is measured on approved items (their current final record): that is what an export
  trains on. While a kind has no approved item yet, its chart shows the categories given at
  import instead (instruction `data.category`, refusal `data.harm_category`) and says so.
  A category under 5% or over 50% of its kind's total gets a warning (nothing is warned about
  while the total is zero); a category of the project's list with no item is under 5%.
* Live counts (annotations, per-day throughput, gold accuracy) are read from the rollup, which
  the submit keeps in its own transaction, so they are as current as the annotations;
  agreement with the others, median seconds and position bias come from the newest done
  agreement report, so they are as of that report (its time is shown).
* Flags: gold accuracy below the project's `gold_threshold` once an annotator has answered at
  least MIN_GOLD_ANSWERS gold items; position bias outside 40-60% left once they made at least
  MIN_POSITION_CHOICES non-tie preference choices.
"""

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Max, OuterRef, Q, Subquery, Sum
from django.db.models.fields.json import KT
from django.utils import timezone

from agreement.models import AgreementReport
from annotation import kinds
from annotation.models import (
    Annotation,
    AnnotatorDay,
    Assignment,
    Item,
    ItemStatus,
    ItemTally,
    Membership,
    Project,
    Role,
)
from annotation.pseudonyms import annotator_pseudonym
from annotation.selectors import can_see_identities
from core.models import JobStatus
from review.models import FinalRecord, PredictionCheck
from routing.calibration import wilson

STATUSES = tuple(ItemStatus.values)  # open, stalled, in_review, approved, rejected, dropped
DAYS = 30  # the annotations-per-day chart
REPORTS = 30  # agreement reports on the agreement-over-time chart
COVERAGE_LOW, COVERAGE_HIGH = 0.05, 0.50
POSITION_LOW, POSITION_HIGH = 0.40, 0.60
MIN_POSITION_CHOICES = 20
MIN_GOLD_ANSWERS = 3
# An annotator who kept more than this share of at least MIN_SUGGESTIONS shown suggestions.
SUGGESTION_HIGH, MIN_SUGGESTIONS = 0.9, 20
NOT_GIVEN = "(not given)"
# Reviewers and the model's answers (review.guards): a reviewer who accepted at least
# RUBBER_STAMP_SHARE of at least RUBBER_STAMP_MIN predictions with a median decision under
# RUBBER_STAMP_SECONDS is flagged, and so is one who caught under CATCH_LOW of at least
# MIN_SEEDED seeded wrong predictions.
RUBBER_STAMP_SHARE, RUBBER_STAMP_MIN, RUBBER_STAMP_SECONDS = 0.9, 20, 10.0
CATCH_LOW, MIN_SEEDED = 0.5, 5


# --- progress ------------------------------------------------------------------------------------


@dataclass
class Progress:
    """Non-gold items by kind and status; gold items counted apart (they are never completed)."""

    by_kind: dict[str, dict[str, int]]
    total: int
    approved: int
    in_review: int
    rejected: int
    open: int
    gold_items: int
    stalled: int  # open, but nobody left who may take them: a lead re-queues them
    dropped: int
    annotations_done: int  # submitted annotations on non-gold items
    annotations_needed: int  # non-gold items x annotations_per_item

    @property
    def approved_share(self) -> float:
        return self.approved / self.total if self.total else 0.0

    @property
    def annotated_share(self) -> float:
        if not self.annotations_needed:
            return 0.0
        return min(1.0, self.annotations_done / self.annotations_needed)


def _progress(project: Project) -> Progress:
    """The ItemTally rows of the project (kind x status x gold flag: at most 24 rows)."""
    rows = ItemTally.objects.filter(project=project).values_list(
        "kind", "status", "is_gold", "count"
    )
    by_kind: dict[str, dict[str, int]] = {
        k: dict.fromkeys(STATUSES, 0) for k in kinds.names() if k in project.kinds
    }
    gold = 0
    for kind, status, is_gold, count in rows:
        if is_gold:
            gold += count
            continue
        counts = by_kind.setdefault(kind, dict.fromkeys(STATUSES, 0))
        counts[status] = counts.get(status, 0) + count
    by_kind = {k: by_kind[k] for k in kinds.names() if k in by_kind}
    status_totals = {s: sum(counts.get(s, 0) for counts in by_kind.values()) for s in STATUSES}
    total = sum(status_totals.values())
    return Progress(
        by_kind=by_kind,
        total=total,
        approved=status_totals[ItemStatus.APPROVED],
        in_review=status_totals[ItemStatus.IN_REVIEW],
        rejected=status_totals[ItemStatus.REJECTED],
        open=status_totals[ItemStatus.OPEN],
        stalled=status_totals[ItemStatus.STALLED],
        dropped=status_totals[ItemStatus.DROPPED],
        gold_items=gold,
        annotations_done=0,  # filled in from the annotations (see dashboard_get)
        annotations_needed=total * project.annotations_per_item,
    )


# --- activity and annotators ---------------------------------------------------------------------


@dataclass
class AnnotatorRow:
    user_id: int | None  # None where annotators are read under pseudonyms (dashboard_as_seen)
    username: str
    role: str | None  # None: no longer a member
    annotations: int = 0
    active_days: int = 0
    per_day: float | None = None
    last_day: date | None = None
    gold_answers: int = 0
    gold_accuracy: float | None = None
    agreement_with_others: float | None = None
    agreement_pairs: int = 0
    median_seconds: float | None = None
    position_bias_left: float | None = None
    position_choices: int = 0
    # Model suggestions shown to them (the project's `suggestions` setting) and kept.
    suggestions_shown: int = 0
    suggestions_kept: int = 0
    suggestion_acceptance: float | None = None
    flags: list[str] = field(default_factory=list)  # full sentences
    # "gold", "position", "suggestions" (short labels)
    flag_kinds: list[str] = field(default_factory=list)


def _activity(
    project: Project, today: date
) -> tuple[list[tuple[date, int]], dict[int, AnnotatorRow]]:
    """Annotations per day (the last DAYS days) and per annotator, from the AnnotatorDay
    rollup: two GROUP BYs over a row per annotator and active day, not over the annotations."""
    first_day = today - timedelta(days=DAYS - 1)
    days = AnnotatorDay.objects.filter(project=project)
    per_day = dict.fromkeys((first_day + timedelta(days=i) for i in range(DAYS)), 0)
    for day, n in (
        days.filter(day__gte=first_day, day__lte=today)
        .values_list("day")
        .annotate(n=Sum("annotations"))
        .order_by()
    ):
        per_day[day] = n
    annotators: dict[int, AnnotatorRow] = {}
    totals = (
        days.values("annotator_id")
        .annotate(
            n=Sum("annotations"),
            active_days=Count("*"),
            last_day=Max("day"),
            gold=Sum("gold_answers"),
            gold_ok=Sum("gold_correct"),
        )
        .order_by()
    )
    for row in totals:
        entry = AnnotatorRow(
            user_id=row["annotator_id"],
            username="",
            role=None,
            annotations=row["n"],
            active_days=row["active_days"],
            per_day=row["n"] / row["active_days"],
            last_day=row["last_day"],
            gold_answers=row["gold"],
        )
        if entry.gold_answers:
            entry.gold_accuracy = row["gold_ok"] / entry.gold_answers
        annotators[entry.user_id] = entry
    return sorted(per_day.items()), annotators


def _people(project: Project, annotators: dict[int, AnnotatorRow]) -> None:
    """Usernames and roles of everyone who annotated, and of annotators who have not yet."""
    role = Membership.objects.filter(project=project, user=OuterRef("pk")).values("role")[:1]
    users = (
        get_user_model()
        .objects.filter(
            Q(pk__in=list(annotators))
            | Q(memberships__project=project, memberships__role=Role.ANNOTATOR)
        )
        .annotate(project_role=Subquery(role))
        .values_list("pk", "username", "project_role")
        .distinct()
    )
    for pk, username, project_role in users:
        entry = annotators.setdefault(pk, AnnotatorRow(user_id=pk, username="", role=None))
        entry.username, entry.role = username, project_role


def _suggestions(project: Project, annotators: dict[int, AnnotatorRow]) -> None:
    """Suggestions shown to each annotator and how many they kept: an aggregate over the
    annotations that had one (a partial index; none while the project hides suggestions)."""
    rows = (
        Annotation.objects.filter(project=project, suggestion_shown=True)
        .values("annotator_id")
        .annotate(n=Count("*"), kept=Count("pk", filter=Q(suggestion_accepted=True)))
        .order_by()
    )
    for row in rows:
        entry = annotators.get(row["annotator_id"])
        if entry is not None:
            entry.suggestions_shown, entry.suggestions_kept = row["n"], row["kept"]
            entry.suggestion_acceptance = row["kept"] / row["n"]


def _flag(project: Project, row: AnnotatorRow) -> None:
    if (
        row.gold_accuracy is not None
        and row.gold_answers >= MIN_GOLD_ANSWERS
        and row.gold_accuracy < project.gold_threshold
    ):
        row.flag_kinds.append("gold")
        row.flags.append(
            f"Gold accuracy {row.gold_accuracy:.0%} is below the project's "
            f"{project.gold_threshold:.0%} threshold ({row.gold_answers} gold answers)."
        )
    if (
        row.position_bias_left is not None
        and row.position_choices >= MIN_POSITION_CHOICES
        and not POSITION_LOW <= row.position_bias_left <= POSITION_HIGH
    ):
        row.flag_kinds.append("position")
        row.flags.append(
            f"Chose the response shown on the left {row.position_bias_left:.0%} of the time "
            f"({row.position_choices} choices): beyond a 60/40 position bias."
        )
    if (
        row.suggestion_acceptance is not None
        and row.suggestions_shown >= MIN_SUGGESTIONS
        and row.suggestion_acceptance > SUGGESTION_HIGH
    ):
        row.flag_kinds.append("suggestions")
        row.flags.append(
            f"Kept the model's suggestion {row.suggestion_acceptance:.0%} of the time "
            f"({row.suggestions_shown} shown): check for rubber-stamping."
        )


# --- reviewers and the model's answers ----------------------------------------------------------


@dataclass
class Share:
    """k of n, with its 95 % Wilson interval (all None when n is 0)."""

    k: int
    n: int

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None

    @property
    def low(self) -> float | None:
        return wilson(self.k, self.n)[0]

    @property
    def high(self) -> float | None:
        return wilson(self.k, self.n)[1]


@dataclass
class ReviewerRow:
    """One reviewer's decisions on items with a model's answer (their prediction checks).

    `accepted`: of the real predictions they were shown and answered (an approval, or a
    judgement recorded before the answer was revealed), how many their answer agreed with by
    the kind's agreement rule. `caught`: of the seeded wrong predictions, how many their answer
    disagreed with. A rejection without a judgement answers nothing and counts in `decided`
    only. `switched`: of the blind judgements that disagreed with what was shown (projects
    that hide the answer until one), how many were followed by an approved final that agrees
    with it: the reviewer changed to the model's answer once they saw it (the judgement still
    counts as a catch). `median_seconds`: from the review claim to the decision, over every
    decided check."""

    user_id: int | None  # None where reviewers are read under pseudonyms
    username: str
    role: str | None
    decided: int = 0
    accepted: Share = field(default_factory=lambda: Share(0, 0))
    caught: Share = field(default_factory=lambda: Share(0, 0))
    switched: Share = field(default_factory=lambda: Share(0, 0))
    median_seconds: float | None = None
    flags: list[str] = field(default_factory=list)
    flag_kinds: list[str] = field(default_factory=list)  # "rubber_stamp", "misses_seeded"


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _reviewers(project: Project) -> list[ReviewerRow]:
    """Per reviewer, from their decided prediction checks: one query, a row per decision on an
    item with a prediction (no JSON read; the median needs every time)."""
    role = Membership.objects.filter(project=project, user=OuterRef("reviewer_id")).values("role")[
        :1
    ]
    checks = (
        PredictionCheck.objects.filter(project=project, decided_at__isnull=False)
        .annotate(project_role=Subquery(role))
        .values_list(
            "reviewer_id",
            "reviewer__username",
            "project_role",
            "seeded",
            "agreed",
            "seconds",
            "judged_at",
            "final_agreed",
        )
        .order_by()
    )
    grouped: dict[int, list[tuple[bool, bool | None, float | None]]] = {}
    changed: dict[int, list[bool]] = {}
    names: dict[int, tuple[str, str | None]] = {}
    for reviewer_id, username, project_role, seeded, agreed, seconds, judged, final in checks:
        grouped.setdefault(reviewer_id, []).append((seeded, agreed, seconds))
        names[reviewer_id] = (username, project_role)
        if judged is not None and agreed is False and final is not None:
            changed.setdefault(reviewer_id, []).append(final)
    rows = []
    for reviewer_id, decided in grouped.items():
        username, project_role = names.get(reviewer_id, ("", None))
        real = [agreed for seeded, agreed, _ in decided if not seeded and agreed is not None]
        seeds = [agreed for seeded, agreed, _ in decided if seeded and agreed is not None]
        row = ReviewerRow(
            user_id=reviewer_id,
            username=username or f"user {reviewer_id}",
            role=project_role,
            decided=len(decided),
            accepted=Share(sum(real), len(real)),
            caught=Share(sum(not agreed for agreed in seeds), len(seeds)),
            switched=Share(sum(changed.get(reviewer_id, [])), len(changed.get(reviewer_id, []))),
            median_seconds=_median([s for _, _, s in decided if s is not None]),
        )
        _flag_reviewer(row)
        rows.append(row)
    return sorted(rows, key=lambda r: (r.username.lower(), r.user_id))


def _flag_reviewer(row: ReviewerRow) -> None:
    accepted = row.accepted.value
    if (
        accepted is not None
        and row.accepted.n >= RUBBER_STAMP_MIN
        and accepted >= RUBBER_STAMP_SHARE
        and row.median_seconds is not None
        and row.median_seconds < RUBBER_STAMP_SECONDS
    ):
        row.flag_kinds.append("rubber_stamp")
        row.flags.append(
            f"Accepted the model's answer {accepted:.0%} of the time ({row.accepted.k} of "
            f"{row.accepted.n}) with a median decision of {row.median_seconds:.0f} s: at least "
            f"{RUBBER_STAMP_SHARE:.0%} of {RUBBER_STAMP_MIN} or more, faster than "
            f"{RUBBER_STAMP_SECONDS:.0f} s. Check for rubber-stamping."
        )
    caught = row.caught.value
    if caught is not None and row.caught.n >= MIN_SEEDED and caught < CATCH_LOW:
        row.flag_kinds.append("misses_seeded")
        row.flags.append(
            f"Caught {row.caught.k} of {row.caught.n} seeded wrong answers ({caught:.0%}): "
            f"under {CATCH_LOW:.0%} of {MIN_SEEDED} or more."
        )


# --- agreement over time -------------------------------------------------------------------------


@dataclass
class AgreementHistory:
    computed_at: list[datetime]
    series: dict[str, list[float | None]]  # field -> alpha per report, oldest first
    latest_at: datetime | None


def _main_alpha(figures: Any) -> float | None:
    """The field's headline alpha: ordinal for ratings, nominal for labels."""
    if not isinstance(figures, dict):
        return None
    value = figures.get("alpha_ordinal", figures.get("alpha_nominal"))
    return value if isinstance(value, int | float) else None


def _agreement(project: Project) -> tuple[AgreementHistory, dict[int, dict[str, Any]]]:
    reports = list(
        AgreementReport.objects.filter(project=project, status=JobStatus.DONE)
        .order_by("-computed_at", "-id")
        .values_list("id", "computed_at", "fields")[:REPORTS]
    )
    reports.reverse()
    names: list[str] = []
    for _, _, fields in reports:
        for name in fields or {}:
            if name not in names:
                names.append(name)
    series = {
        name: [_main_alpha((fields or {}).get(name)) for _, _, fields in reports] for name in names
    }
    series = {name: values for name, values in series.items() if any(v is not None for v in values)}
    latest_rows: dict[int, dict[str, Any]] = {}
    if reports:
        annotators = (
            AgreementReport.objects.filter(pk=reports[-1][0])
            .values_list("annotators", flat=True)
            .first()
        )
        for entry in annotators or []:
            if isinstance(entry, dict) and isinstance(entry.get("user_id"), int):
                latest_rows[entry["user_id"]] = entry
    history = AgreementHistory(
        computed_at=[computed_at for _, computed_at, _ in reports],
        series=series,
        latest_at=reports[-1][1] if reports else None,
    )
    return history, latest_rows


def _with_report(row: AnnotatorRow, entry: dict[str, Any] | None) -> None:
    if not entry:
        return
    row.agreement_with_others = entry.get("agreement_with_others")
    row.agreement_pairs = entry.get("agreement_pairs") or 0
    row.median_seconds = entry.get("median_seconds")
    row.position_bias_left = entry.get("position_bias_left")
    row.position_choices = entry.get("position_choices") or 0


# --- coverage ------------------------------------------------------------------------------------


@dataclass
class CoverageRow:
    label: str
    count: int
    share: float | None
    warn: str = ""  # "low", "high" or ""


@dataclass
class Coverage:
    kind: str
    field: str  # the payload field counted: category, harm_category
    basis: str  # "approved", "imported" or "" (nothing to count yet)
    total: int
    rows: list[CoverageRow]
    not_given: int = 0  # imported basis: items without a category hint
    warnings: list[str] = field(default_factory=list)


def _coverage_rows(
    labels: list[str], counts: dict[str, int], total: int, what: str
) -> tuple[list[CoverageRow], list[str]]:
    names = list(dict.fromkeys([*labels, *sorted(k for k in counts if k not in labels)]))
    rows, warnings = [], []
    for name in names:
        n = counts.get(name, 0)
        share = n / total if total else None
        warn = ""
        if share is not None and share < COVERAGE_LOW:
            warn = "low"
            warnings.append(
                f"{what} “{name}” is {share:.1%} of the total ({n} of {total}): under 5%."
            )
        elif share is not None and share > COVERAGE_HIGH:
            warn = "high"
            warnings.append(
                f"{what} “{name}” is {share:.1%} of the total ({n} of {total}): over 50%."
            )
        rows.append(CoverageRow(label=name, count=n, share=share, warn=warn))
    return rows, warnings


@dataclass
class Mix:
    """What approved items cover, by kind (each kind with a coverage field, see
    annotation.kinds): `mix.instruction` is the instruction items' coverage,
    `mix.sft_refusal` the approved refusal items, `mix.refusal_share` their share of the SFT
    replies."""

    coverage: dict[str, Coverage]  # by kind with a coverage field
    decisions: dict[str, int]  # approved items by final decision (kinds with a decision field)
    replies: dict[str, int]  # approved items of each kind that gives an SFT reply
    shares: dict[str, str]  # kind -> why its share of the replies is shown

    def share(self, kind: str) -> float | None:
        total = sum(self.replies.values())
        return self.replies.get(kind, 0) / total if total else None

    def __getattr__(self, name: str) -> Any:
        kind = name.removeprefix("sft_").removesuffix("_share")
        if name.startswith("sft_") and kind in self.replies:
            return self.replies[kind]
        if name.endswith("_share") and kind in self.shares:
            return self.share(kind)
        if name in self.coverage:
            return self.coverage[name]
        raise AttributeError(name)

    @property
    def watched(self) -> list[dict[str, Any]]:
        """The kinds whose share of the replies is shown, for the page."""
        return [
            {
                "kind": kinds.kind_get(kind),
                "share": self.share(kind),
                "count": self.replies.get(kind, 0),
                "others": sum(n for k, n in self.replies.items() if k != kind),
                "note": note,
            }
            for kind, note in self.shares.items()
        ]


def _coverage(project: Project, progress: Progress) -> Mix:
    """Coverage of each kind's categories (instruction categories, refusal harm categories)
    and decisions on approved items; while a kind has nothing approved, the categories given
    at import."""
    covered = [k for k in kinds.registry if k.coverage_field]
    # Current final records are exactly the approved items' (gold items never get one); their
    # kind, category and decision are columns of the partial final_record_coverage index.
    approved = (
        FinalRecord.objects.filter(
            project=project, is_current=True, kind__in=[k.name for k in covered]
        )
        .values("kind", "category", "decision")
        .annotate(n=Count("*"))
        .order_by()
    )
    counts: dict[str, dict[str, int]] = {k.name: {} for k in covered}
    decisions = {
        value: 0 for k in kinds.registry if k.decision_field for value in k.decision_values
    }
    deciding = {k.name for k in kinds.registry if k.decision_field}
    for row in approved:
        key = row["category"] or NOT_GIVEN
        counts[row["kind"]][key] = counts[row["kind"]].get(key, 0) + row["n"]
        if row["kind"] in deciding:
            decision = row["decision"] or NOT_GIVEN
            decisions[decision] = decisions.get(decision, 0) + row["n"]
    basis = dict.fromkeys(counts, "approved")
    not_given = dict.fromkeys(counts, 0)
    fallback = [k for k in covered if not counts[k.name]]
    for kind in fallback:
        imported = (
            Item.objects.filter(project=project, is_gold=False, kind=kind.name)
            .values(given=KT(f"data__{kind.coverage_field}"))
            .annotate(n=Count("*"))
            .order_by()
        )
        for row in imported:
            if row["given"] is None:
                not_given[kind.name] += row["n"]
            else:
                counts[kind.name][row["given"]] = counts[kind.name].get(row["given"], 0) + row["n"]
        basis[kind.name] = "imported" if counts[kind.name] or not_given[kind.name] else ""

    def coverage(kind: kinds.ItemKind) -> Coverage:
        found = counts[kind.name]
        total = sum(found.values())
        labels = list(getattr(project, kind.coverage_list))
        rows, warnings = _coverage_rows(labels, found, total, kind.coverage_label)
        return Coverage(
            kind=kind.name,
            field=kind.coverage_field,
            basis=basis[kind.name],
            total=total,
            rows=rows,
            not_given=not_given[kind.name],
            warnings=warnings,
        )

    return Mix(
        coverage={k.name: coverage(k) for k in covered},
        decisions=decisions,
        replies={
            k.name: progress.by_kind.get(k.name, {}).get(ItemStatus.APPROVED, 0)
            for k in kinds.registry
            if k.gives_reply
        },
        shares={k.name: k.reply_share_note for k in kinds.registry if k.reply_share_note},
    )


# --- duplicates ----------------------------------------------------------------------------------


@dataclass
class Attention:
    """Items waiting for a lead: stalled (nobody left to annotate them) and flagged by an
    annotator who skipped them."""

    stalled: int
    flagged: int


def _attention(project: Project, progress: Progress) -> Attention:
    flagged = (
        Assignment.objects.filter(project=project, flagged=True)
        .values("item_id")
        .distinct()
        .count()
    )
    return Attention(stalled=progress.stalled, flagged=flagged)


@dataclass
class Duplicates:
    groups: int  # content hashes shared by two or more items
    items: int  # items in those groups


def _duplicates(project: Project) -> Duplicates:
    """The items flagged `has_duplicate` at import: the partial item_duplicates index."""
    figures = Item.objects.filter(project=project, has_duplicate=True).aggregate(
        groups=Count("content_hash", distinct=True), items=Count("*")
    )
    return Duplicates(groups=figures["groups"], items=figures["items"])


# --- the whole dashboard -------------------------------------------------------------------------


@dataclass
class SuggestionUse:
    """Model suggestions across the project: how many annotations showed one (the project's
    `suggestions` setting) and how many kept it. Beside agreement, an acceptance near 1 is
    rubber-stamping."""

    mode: str
    shown: int = 0
    kept: int = 0

    @property
    def acceptance(self) -> float | None:
        return self.kept / self.shown if self.shown else None


@dataclass
class Dashboard:
    project: Project
    today: date
    progress: Progress
    per_day: list[tuple[date, int]]
    annotators: list[AnnotatorRow]
    agreement: AgreementHistory
    mix: Mix
    duplicates: Duplicates
    attention: Attention
    reviewers: list[ReviewerRow] = field(default_factory=list)
    suggestions: SuggestionUse | None = None

    @property
    def flagged(self) -> list[AnnotatorRow]:
        return [row for row in self.annotators if row.flags]

    @property
    def flagged_reviewers(self) -> list[ReviewerRow]:
        return [row for row in self.reviewers if row.flags]


def dashboard_get(*, project: Project) -> Dashboard:
    """Every figure of the project's dashboard (a fixed number of queries)."""
    today = timezone.localdate()
    progress = _progress(project)
    per_day, annotators = _activity(project, today)
    # Gold items are answered, never completed: every other annotation counts towards progress.
    progress.annotations_done = sum(r.annotations - r.gold_answers for r in annotators.values())
    _people(project, annotators)
    _suggestions(project, annotators)
    history, report_rows = _agreement(project)
    rows = sorted(annotators.values(), key=lambda r: (r.username.lower(), r.user_id))
    for row in rows:
        row.username = row.username or f"user {row.user_id}"
        _with_report(row, report_rows.get(row.user_id))
        _flag(project, row)
    return Dashboard(
        project=project,
        today=today,
        progress=progress,
        per_day=per_day,
        annotators=rows,
        agreement=history,
        mix=_coverage(project, progress),
        duplicates=_duplicates(project),
        attention=_attention(project, progress),
        reviewers=_reviewers(project),
        suggestions=SuggestionUse(
            mode=project.suggestions,
            shown=sum(row.suggestions_shown for row in rows),
            kept=sum(row.suggestions_kept for row in rows),
        ),
    )


def dashboard_as_seen(*, membership: Membership) -> Dashboard:
    """The dashboard as a member reads it: leads with names; everyone else with annotators
    under their per-project pseudonyms (no user ids), sorted by pseudonym."""
    board = dashboard_get(project=membership.project)
    if not can_see_identities(membership):
        project = membership.project
        rows = [
            replace(row, username=annotator_pseudonym(project, row.user_id), user_id=None)
            for row in board.annotators
        ]
        board.annotators = sorted(rows, key=lambda row: row.username)
        reviewers = [
            replace(row, username=annotator_pseudonym(project, row.user_id), user_id=None)
            for row in board.reviewers
        ]
        board.reviewers = sorted(reviewers, key=lambda row: row.username)
    return board
