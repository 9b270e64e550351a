"""A whole project as one file, and back: ``manage.py project_dump`` and ``project_load``.

The file is JSON Lines, UTF-8: a header, the users the project refers to (by username; no
password, no token), then every row of the project's tables in the order they depend on each
other (settings and the versions of versioned settings, members, items, assignments with their
outcomes, annotations, reviews, final records, review leases and skips, the rollups, agreement
and evaluation reports, audit events). A row carries a number local to the file instead of its
database id, and its foreign keys name those numbers (users: their username), so a file loads
into any installation whatever ids are taken there. Rows are written in id order with sorted
keys and exact timestamps: a dump, a load into an empty database and a second dump give
byte-identical files.

Not moved: export jobs and their files (export again after a load), the outbox, API tokens and
login attempts. Ids inside audit events' before/after bodies are the source installation's.
Users missing from the target are created without a usable password (``manage.py
changepassword`` gives them one). A project whose name and pseudonym key are already in the
target database is refused (a load never overwrites nor duplicates a project).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils.dateparse import parse_date, parse_datetime

from annotation.models import Project
from core.errors import ApplicationError

FORMAT = "rubric-project"
VERSION = 1
BATCH = 2_000

# Dumped, in this order (each refers only to those before it). `filter`: how to select the
# project's rows.
DUMPED: list[tuple[str, str]] = [
    ("annotation.project", "pk"),
    ("annotation.settingversion", "project"),
    ("annotation.membership", "project"),
    ("annotation.item", "project"),
    ("annotation.assignment", "project"),
    ("annotation.annotation", "project"),
    ("review.review", "item__project"),
    ("review.finalrecord", "project"),
    ("review.reviewlease", "project"),
    ("review.reviewskip", "project"),
    ("review.predictioncheck", "project"),
    ("annotation.annotatorday", "project"),
    ("annotation.itemtally", "project"),
    ("agreement.agreementreport", "project"),
    ("evaluation.evaluationreport", "project"),
    ("routing.calibrationreport", "project"),
    ("core.auditevent", "project"),
]
# Tables that refer to a project but are not moved, and why (a test checks every table that
# refers to a project or an item is in one list or the other).
SKIPPED: dict[str, str] = {
    "exports.exportjob": "export files are not moved: export again after a load",
    "hygiene.itemcheck": "derived from the items: manage.py hygiene_scan recomputes it",
    "hygiene.promptband": "derived from the items: manage.py hygiene_scan recomputes it",
    "webhooks.endpoint": "endpoints are not moved: their URLs and secrets belong to the "
    "installation that sends; register them again after a load",
    "webhooks.delivery": "the delivery log belongs to the installation that sent it",
    "webhooks.attempt": "the delivery log belongs to the installation that sent it",
    "team.invitation": "invitation links are secrets of this server and expire: invite again "
    "after a load (who joined is in the memberships and the audit)",
}
USER = "auth.user"
USER_FIELDS = ("email", "first_name", "last_name", "is_active")


class BackupError(ApplicationError):
    pass


def _model(label: str) -> type[models.Model]:
    return apps.get_model(label)


def _is_user(field: models.Field) -> bool:
    return field.related_model is get_user_model()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


# --- dump --------------------------------------------------------------------------------------


@dataclass
class Dumped:
    rows: dict[str, int]
    users: int


def project_dump(*, project: Project, out: IO[str]) -> Dumped:
    """Write the project to `out` (a text stream)."""
    local: dict[str, dict[Any, int]] = {}
    users: dict[int, str] = {}
    counts: dict[str, int] = {}
    User = get_user_model()

    def username(user_id: int | None) -> str | None:
        if user_id is None:
            return None
        if user_id not in users:
            users[user_id] = (
                User.objects.filter(pk=user_id).values_list(User.USERNAME_FIELD, flat=True).get()
            )
        return users[user_id]

    with tempfile.TemporaryFile("w+", encoding="utf-8") as rows, transaction.atomic():
        for label, selector in DUMPED:
            model = _model(label)
            ids = local[label] = {}
            queryset = model.objects.filter(**{selector: project.pk}).order_by("pk")
            for number, obj in enumerate(queryset.iterator(chunk_size=BATCH), start=1):
                ids[obj.pk] = number
                fields = {}
                for field in model._meta.concrete_fields:
                    if field.primary_key:
                        continue
                    value = field.value_from_object(obj)
                    if field.is_relation:
                        target = field.related_model._meta.label_lower
                        if target == "annotation.project":
                            continue  # the project being dumped
                        if _is_user(field):
                            value = username(value)
                        elif value is not None:
                            value = local[target][value]
                    fields[field.name] = _plain(value)
                _dump_hook(label, fields, local, username)
                rows.write(_line({"model": label, "id": number, "fields": fields}))
            counts[label] = len(ids)
        out.write(_line({"format": FORMAT, "version": VERSION}))
        for user in User.objects.filter(pk__in=users).order_by(User.USERNAME_FIELD):
            fields = {name: getattr(user, name) for name in USER_FIELDS}
            out.write(_line({"model": USER, "id": user.get_username(), "fields": fields}))
        rows.seek(0)
        for chunk in iter(lambda: rows.read(1 << 20), ""):
            out.write(chunk)
    return Dumped(rows=counts, users=len(users))


def _dump_hook(label: str, fields: dict[str, Any], local: dict, username: Any) -> None:
    """References kept in other columns: an audit event's object, report rows' users."""
    if label == "core.auditevent":
        object_type, object_id = fields["object_type"], fields["object_id"]
        ids = local.get(object_type)
        if object_type == USER and object_id.isdigit():
            with contextlib.suppress(Exception):
                fields["object_id"] = {"user": username(int(object_id))}
                return
        if ids is not None and object_id.isdigit() and int(object_id) in ids:
            fields["object_id"] = {"row": ids[int(object_id)]}
        else:
            fields["object_id"] = {"raw": object_id}
    elif label == "agreement.agreementreport":
        fields["annotators"] = [
            {**row, "user_id": username(row["user_id"])} if row.get("user_id") else row
            for row in fields["annotators"] or []
        ]


# --- load --------------------------------------------------------------------------------------


@dataclass
class Loaded:
    project: Project
    rows: dict[str, int]
    users_created: int


def _records(lines: IO[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise BackupError(f"Line {number} is not JSON: {exc}") from None
        if not isinstance(record, dict):
            raise BackupError(f"Line {number} is not a JSON object.")
        yield record


@contextlib.contextmanager
def _explicit_timestamps() -> Iterator[None]:
    """Loaded rows keep their timestamps: auto_now / auto_now_add are off meanwhile."""
    saved = []
    for label, _ in DUMPED:
        for field in _model(label)._meta.concrete_fields:
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                saved.append((field, field.auto_now, field.auto_now_add))
                field.auto_now = field.auto_now_add = False
    try:
        yield
    finally:
        for field, auto_now, auto_now_add in saved:
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


def project_load(*, lines: IO[str]) -> Loaded:
    """Load a dumped project into this database, all or nothing."""
    records = _records(lines)
    header = next(records, None)
    if header is None or header.get("format") != FORMAT:
        raise BackupError("Not a project dump (no rubric-project header on the first line).")
    if header.get("version") != VERSION:
        raise BackupError(f"Dump version {header.get('version')!r}; this installation reads 1.")
    with transaction.atomic(), _explicit_timestamps():
        loader = _Loader()
        for record in records:
            loader.add(record)
        loader.flush()
        if loader.project is None:
            raise BackupError("The dump holds no project.")
    return Loaded(loader.project, loader.counts, loader.users_created)


class _Loader:
    def __init__(self) -> None:
        self.local: dict[str, dict[int, int]] = {}
        self.users: dict[str, int] = {}
        self.users_created = 0
        self.project: Project | None = None
        self.batch: list[dict[str, Any]] = []
        self.label: str | None = None
        self.counts: dict[str, int] = {}
        self.order = [label for label, _ in DUMPED]

    def add(self, record: dict[str, Any]) -> None:
        label = record.get("model")
        if label == USER:
            self._user(record)
            return
        if label not in self.order:
            raise BackupError(f"Unknown table {label!r} in the dump.")
        if label != self.label:
            self.flush()
            if self.label is not None and self.order.index(label) < self.order.index(self.label):
                raise BackupError(f"{label} rows come after {self.label} rows: not a dump.")
            self.label = label
        self.batch.append(record)
        if len(self.batch) >= BATCH:
            self.flush()

    def _user(self, record: dict[str, Any]) -> None:
        User = get_user_model()
        name = record["id"]
        user = User.objects.filter(**{User.USERNAME_FIELD: name}).first()
        if user is None:
            fields = {k: v for k, v in record.get("fields", {}).items() if k in USER_FIELDS}
            user = User(**{User.USERNAME_FIELD: name}, **fields)
            user.set_unusable_password()
            user.save()
            self.users_created += 1
        self.users[name] = user.pk

    def _user_id(self, name: Any) -> int | None:
        if name is None:
            return None
        if name not in self.users:
            raise BackupError(f"User {name!r} is referred to but not listed in the dump.")
        return self.users[name]

    def flush(self) -> None:
        if not self.batch:
            return
        label, batch, self.batch = self.label, self.batch, []
        assert label is not None
        model = _model(label)
        ids = self.local.setdefault(label, {})
        objects = [self._build(label, model, record["fields"]) for record in batch]
        if label == "annotation.project":
            if len(objects) != 1 or ids:
                raise BackupError("A dump holds one project.")
            self._refuse_existing(objects[0])
        model.objects.bulk_create(objects)
        for record, obj in zip(batch, objects, strict=True):
            ids[record["id"]] = obj.pk
        if label == "annotation.project":
            self.project = objects[0]
        self.counts[label] = self.counts.get(label, 0) + len(objects)

    def _refuse_existing(self, project: Project) -> None:
        existing = Project.objects.filter(
            name=project.name, pseudonym_key=project.pseudonym_key
        ).first()
        if existing is not None:
            raise BackupError(
                f"Project {project.name!r} exists in this database already (id {existing.pk}): "
                "project_load never overwrites nor duplicates a project. Delete it first, or "
                "load into another database."
            )

    def _build(self, label: str, model: type[models.Model], fields: dict[str, Any]) -> Any:
        fields = dict(fields)
        if label == "core.auditevent":
            ref = fields["object_id"]
            if "user" in ref:
                fields["object_id"] = str(self._user_id(ref["user"]))
            elif "row" in ref:
                fields["object_id"] = str(self.local[fields["object_type"]][ref["row"]])
            else:
                fields["object_id"] = ref["raw"]
        elif label == "agreement.agreementreport":
            fields["annotators"] = [
                {**row, "user_id": self._user_id(row["user_id"])} if row.get("user_id") else row
                for row in fields["annotators"] or []
            ]
        values: dict[str, Any] = {}
        for field in model._meta.concrete_fields:
            if field.primary_key:
                continue
            if field.is_relation:
                target = field.related_model._meta.label_lower
                if target == "annotation.project":
                    values[field.attname] = self.project.pk if self.project else None
                    continue
                raw = fields.get(field.name)
                if _is_user(field):
                    values[field.attname] = self._user_id(raw)
                else:
                    values[field.attname] = None if raw is None else self.local[target][raw]
                continue
            if field.name not in fields:
                continue  # a column newer than the dump: its default
            value = fields[field.name]
            if isinstance(field, models.DateTimeField) and value is not None:
                value = parse_datetime(value)
            elif isinstance(field, models.DateField) and value is not None:
                value = parse_date(value)
            values[field.attname] = value
        return model(**values)
