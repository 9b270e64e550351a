"""The reviewer's adjudication page: one item at a time, keyboard first, htmx swaps."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotation import access, kinds
from annotation.models import Item, ItemStatus, Membership, ReviewReason, Role
from core.errors import ApplicationError, Conflict, PermissionDenied
from review import guards, selectors, services
from review.models import AfterReject, ReviewDecision


def _membership(request: HttpRequest, project_id: int) -> Membership:
    return access.membership_get(user=request.user, project_id=project_id, role=Role.REVIEWER)


def _reveal(request: HttpRequest, membership: Membership) -> bool:
    wanted = (request.GET.get("reveal") or request.POST.get("reveal")) == "1"
    return wanted and selectors.can_reveal(membership)


def _pane_context(
    request: HttpRequest,
    membership: Membership,
    *,
    item: Item | None = None,
    flash: str = "",
    flash_level: str = "ok",
    errors: list[dict[str, str]] | None = None,
    form: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The pane: `item` (re-shown after an invalid decision, or opened from the list) or the
    next item in the queue, held for this reviewer (a review lease) while the pane shows it."""
    reveal = _reveal(request, membership)
    queue = selectors.review_queue(membership=membership, with_annotators=reveal)
    lease = None
    if item is not None:
        item = queue.filter(pk=item.pk).first()
        if item is not None:
            try:
                lease = services.review_claim_item(membership=membership, item_id=item.pk)
            except ApplicationError as error:
                item, flash, flash_level = None, error.message, "warn"
    if item is None:
        lease = services.review_claim_next(membership=membership)
        item = queue.filter(pk=lease.item_id).first() if lease is not None else None
    entry = (
        selectors.review_entry(item, reviewer_id=request.user.pk, reveal=reveal)
        if item is not None
        else None
    )
    project = membership.project
    if entry is not None and lease is not None:
        check = guards.prediction_check_open(lease=lease, item=entry.item)
        entry.prediction = guards.prediction_view(
            check, project=project, display_order=entry.display_order
        )
    remaining = queue.count()
    form = form or _form_from(entry)
    return {
        "project": project,
        "membership": membership,
        "entry": entry,
        "lease": lease,
        "remaining": remaining,
        "skipped_count": selectors.review_skipped_count(membership=membership),
        "reveal": reveal,
        "can_reveal": selectors.can_reveal(membership),
        "flash": flash,
        "flash_level": flash_level,
        "errors": errors or [],
        "form": form,
        "criteria_values": [(name, form["criteria"].get(name)) for name in project.criteria],
        # The edit panel's template and choices, from the kind.
        **(_kind_context(item.kind, project) if item is not None else {}),
    }


def _kind_context(kind_name: str, project: Any) -> dict[str, Any]:
    kind = kinds.kind_get(kind_name)
    return {"review_template": kind.review_template, **kind.review_form_values(project)}


def _form_from(entry: selectors.ReviewEntry | None) -> dict[str, Any]:
    """The edit form's starting values: the first annotation (the page's script refills it
    from the picked one)."""
    if entry is None or not entry.annotations:
        return {"open": "", "criteria": {}}
    payload = entry.annotations[0].payload
    return {**payload, "open": "", "criteria": payload.get("criteria") or {}, "note": ""}


def _render_pane(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    template = "review/queue.html#pane" if request.htmx else "review/queue.html"
    return render(request, template, context)


@require_GET
@login_required
def queue(request: HttpRequest, project_id: int) -> HttpResponse:
    membership = _membership(request, project_id)
    return render(request, "review/queue.html", _pane_context(request, membership))


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _submitted_form(
    post: Any, item: Item, final: dict | None, open_: str, display_order: str
) -> dict[str, Any]:
    """The form as submitted, to show it again with the errors: the edited final when there
    was one (as typed, in the page's terms), else the first annotation as the edit panel's
    starting values."""
    if final is None:
        first = item.annotations.filter(round=item.round).order_by("id").first()
        final = selectors.as_displayed(item.kind, first.payload, display_order) if first else {}
    return {
        **final,
        "criteria": final.get("criteria") or {},
        "open": open_,
        "note": post.get("note", ""),
        "then": post.get("then", ""),
        "pick": _int_or_none(post.get("pick")),
    }


@require_POST
@login_required
def decide(request: HttpRequest, project_id: int, item_id: int) -> HttpResponse:
    membership = _membership(request, project_id)
    item = access.item_in_project(membership=membership, item_id=item_id)
    post = request.POST
    action = post.get("action", "")
    # The page showed this reviewer the responses in this order; an edited final's ratings
    # come in its left/right terms and are stored in A/B terms.
    order = selectors.review_display_order(item.pk, request.user.pk)
    annotation_id, final, typed = None, None, None
    if post.get("approve"):
        decision, action = ReviewDecision.APPROVE, "approve"
        annotation_id = _int_or_none(post["approve"])
    elif action == "approve_picked":
        decision = ReviewDecision.APPROVE
        annotation_id = _int_or_none(post.get("pick"))
        if annotation_id is None:
            return _invalid(
                request,
                membership,
                item,
                ApplicationError("Pick an annotation first: press its number, 1 to 9."),
                _submitted_form(post, item, None, "", order),
            )
    elif action == "edit":
        decision = ReviewDecision.APPROVE
        typed = kinds.kind_get(item.kind).final_from_form(post, membership.project)
        final = selectors.as_displayed(item.kind, typed, order)
    elif action == "reject":
        decision = ReviewDecision.REJECT
    else:
        decision = ""
    if post.get("step") == "judge" and decision == ReviewDecision.APPROVE:
        return _judge(request, membership, item, annotation_id, final, typed, action, order)
    try:
        review = services.review_decide(
            item_id=item.pk,
            reviewer=request.user,
            decision=decision,
            annotation_id=annotation_id,
            final=final,
            note=post.get("note", ""),
            then=(post.get("then") or None) if decision == ReviewDecision.REJECT else None,
        )
    except Conflict as error:
        earlier = error.extra.get("decision")
        flash = (
            f"Already decided by another reviewer: {earlier['decision']}."
            if earlier
            else error.message
        )
        return _after(request, membership, flash, "warn")
    except PermissionDenied as error:
        return _after(request, membership, error.message, "error")
    except ApplicationError as error:
        open_ = {"edit": "edit", "reject": "reject"}.get(action, "")
        form = _submitted_form(post, item, typed, open_, order)
        return _invalid(request, membership, item, error, form)
    return _after(request, membership, _decided_message(review), "ok")


def _judge(
    request: HttpRequest,
    membership: Membership,
    item: Item,
    annotation_id: int | None,
    final: dict | None,
    typed: dict | None,
    action: str,
    order: str,
) -> HttpResponse:
    """The first step while the project hides predictions until a judgement: record the
    reviewer's own answer, then show the same item with the model's answer revealed."""
    try:
        guards.review_judgement_record(
            item_id=item.pk, reviewer=request.user, annotation_id=annotation_id, final=final
        )
    except Conflict as error:
        return _after(request, membership, error.message, "warn")
    except ApplicationError as error:
        open_ = "edit" if action == "edit" else ""
        form = _submitted_form(request.POST, item, typed, open_, order)
        return _invalid(request, membership, item, error, form)
    context = _pane_context(
        request,
        membership,
        item=item,
        flash="Your judgement is recorded. The model's answer is shown now: decide the item.",
        form=_submitted_form(request.POST, item, typed, "", order),
    )
    return _render_pane(request, context)


def _invalid(
    request: HttpRequest,
    membership: Membership,
    item: Item,
    error: ApplicationError,
    form: dict[str, Any],
) -> HttpResponse:
    """The same item again, with the message, the field errors and what was typed."""
    context = _pane_context(
        request,
        membership,
        item=item,
        flash=error.message,
        flash_level="error",
        errors=error.extra.get("errors", []),
        form=form,
    )
    return _render_pane(request, context)


def _decided_message(review: Any) -> str:
    if review.decision == ReviewDecision.REJECT and review.then == AfterReject.DROP:
        return "Rejected and dropped. Next item."
    if review.decision == ReviewDecision.REJECT and review.item.status == ItemStatus.STALLED:
        return (
            f"Rejected, but nobody is left who may annotate it (round {review.item.round}): "
            "the item is stalled and waits on the lead's dashboard to be re-queued, edited or "
            "dropped. Next item."
        )
    if review.decision == ReviewDecision.REJECT:
        status = review.item.get_status_display().lower()
        return (
            f"Rejected: back for fresh annotations (round {review.item.round}, {status}). "
            "Next item."
        )
    if review.final is not None:
        return "Approved your edited final. Next item."
    return "Approved the annotation. Next item."


def _after(request: HttpRequest, membership: Membership, flash: str, level: str) -> HttpResponse:
    """The next item (htmx), or back to the page with the message (a plain form post)."""
    if request.htmx:
        return _render_pane(
            request, _pane_context(request, membership, flash=flash, flash_level=level)
        )
    {"ok": messages.success, "warn": messages.warning}.get(level, messages.error)(request, flash)
    url = redirect("review:queue", project_id=membership.project_id)
    if _reveal(request, membership):
        url["Location"] += "?reveal=1"
    return url


@require_POST
@login_required
def skip(request: HttpRequest, project_id: int, item_id: int) -> HttpResponse:
    """Put an item aside (kept on the server, across logins); the queue moves on."""
    membership = _membership(request, project_id)
    services.review_skip(membership=membership, item_id=item_id)
    return _after(request, membership, "Skipped for now.", "ok")


@require_POST
@login_required
def skips_clear(request: HttpRequest, project_id: int) -> HttpResponse:
    membership = _membership(request, project_id)
    services.review_skips_clear(membership=membership)
    return _after(request, membership, "Back to the items you skipped.", "ok")


@require_GET
@login_required
def open_item(request: HttpRequest, project_id: int, item_id: int) -> HttpResponse:
    """One item from the review list, held for this reviewer (unless another holds it)."""
    membership = _membership(request, project_id)
    item = access.item_in_project(membership=membership, item_id=item_id)
    return render(request, "review/queue.html", _pane_context(request, membership, item=item))


@require_POST
@login_required
def lease_heartbeat(request: HttpRequest, project_id: int, lease_id: int) -> HttpResponse:
    """204 while the reviewer still holds the item; 409 once the lease ended."""
    _membership(request, project_id)
    try:
        services.review_lease_heartbeat(lease_id=lease_id, reviewer=request.user)
    except Conflict as error:
        return HttpResponse(error.message, status=409, content_type="text/plain")
    return HttpResponse(status=204)


@require_GET
@login_required
def review_list(request: HttpRequest, project_id: int) -> HttpResponse:
    """The items in review the reviewer may decide, filtered by reason, kind and the field in
    dispute, with who holds each; any can be opened."""
    membership = _membership(request, project_id)
    filters = {name: request.GET.get(name, "") for name in ("reason", "kind", "field")}
    offered = {"reason": ReviewReason.values, "kind": membership.project.kinds}
    for name, values in offered.items():
        if filters[name] and filters[name] not in values:
            raise ApplicationError(f"Unknown {name}: choose one of {', '.join(values)}.")
    rows = selectors.review_list(membership=membership, **filters)
    context = {
        "project": membership.project,
        "membership": membership,
        "rows": rows,
        "filters": filters,
        "reasons": ReviewReason.choices,
        "kinds": [(k, kinds.kind_get(k).label) for k in membership.project.kinds],
    }
    return render(request, "review/list.html", context)
