"""Forms of the lead's console. They turn posted text into typed values; the rules (ranges,
lists, the last lead) live in the services, whose errors the views put back on these forms."""

from typing import Any

from django import forms

from annotation import services
from annotation.filters import ItemFilter
from annotation.models import Kind, Project, Role
from core.errors import ApplicationError

HELP = {
    "name": "Shown to everyone in the project (at most 200 characters).",
    "kinds": "The item kinds this project accepts at import. Items already imported keep theirs.",
    "annotations_per_item": (
        "Overlap: how many different annotators annotate each item (1 to 10). "
        "Agreement needs at least 2."
    ),
    "review_sample_rate": (
        "Share of agreed items sent to review anyway as a QA sample, from 0 to 1 (0.1 = 10 %)."
    ),
    "gold_rate": (
        "Share of an annotator's items served from gold items (known answers) to score them, "
        "from 0 to 1. 0 turns gold items off."
    ),
    "gold_threshold": (
        "The dashboard flags annotators whose gold accuracy falls below this share (0 to 1)."
    ),
    "lease_seconds": (
        "How long a claimed item stays reserved for its annotator (60 to 86,400 seconds). The "
        "annotation page keeps the lease alive while it is open."
    ),
    "eval_fraction": (
        "Share (0 to 1) of newly imported items put in the eval split, by a stable hash of the "
        "external_id, when the import gives no split. Eval items never reach a train export; "
        "items already imported keep their split."
    ),
    "agreement_every": (
        "An agreement report is computed after every this many new annotations (0: only on "
        "request)."
    ),
    "categories": (
        "Instruction task categories, one per line. Annotators choose one per item; the "
        "dashboard's coverage chart counts them."
    ),
    "criteria": "Preference criteria, one per line; each is rated from -3 to 3 besides the "
    "overall rating.",
    "harm_categories": "Refusal harm categories, one per line.",
    "system_prompt": (
        "Optional. Exports put it as the system message of items that have no system prompt "
        "of their own."
    ),
    "auto_approve_text": (
        "Approve agreed instruction and refusal items without a reviewer choosing the final "
        "text (the first annotation's text is used)."
    ),
    "guidelines": (
        "Markdown. Annotators read it on the project page; saving a change makes a new version "
        "and annotators see a notice until they annotate under it."
    ),
}

LIST_SETTINGS = ("categories", "criteria", "harm_categories")


def lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _rate(name: str) -> forms.FloatField:
    return forms.FloatField(
        help_text=HELP[name],
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": "1"}),
    )


def _integer(name: str, low: int, high: int) -> forms.IntegerField:
    return forms.IntegerField(
        help_text=HELP[name], widget=forms.NumberInput(attrs={"min": low, "max": high})
    )


def _list(name: str) -> forms.CharField:
    return forms.CharField(
        required=False, help_text=HELP[name], widget=forms.Textarea(attrs={"rows": 6})
    )


class ServiceErrorsMixin:
    """Put an ApplicationError's `errors` ({field, message}) on the form's fields."""

    def add_service_errors(self, error: ApplicationError) -> None:
        found = error.extra.get("errors") or []
        for entry in found:
            name = entry.get("field")
            self.add_error(name if name in self.fields else None, entry.get("message", ""))
        if not found:
            self.add_error(None, error.message)


class ProjectCreateForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=200, help_text=HELP["name"])
    kinds = forms.MultipleChoiceField(
        choices=Kind.choices,
        required=False,
        initial=Kind.values,
        widget=forms.CheckboxSelectMultiple,
        help_text=HELP["kinds"],
    )
    annotations_per_item = _integer("annotations_per_item", 1, 10)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["annotations_per_item"].initial = 2

    def settings(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class ProjectSettingsForm(ServiceErrorsMixin, forms.Form):
    """Every project setting but the guidelines (they have an editor of their own)."""

    name = forms.CharField(max_length=200, help_text=HELP["name"])
    kinds = forms.MultipleChoiceField(
        choices=Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=HELP["kinds"],
    )
    annotations_per_item = _integer("annotations_per_item", 1, 10)
    review_sample_rate = _rate("review_sample_rate")
    gold_rate = _rate("gold_rate")
    gold_threshold = _rate("gold_threshold")
    lease_seconds = _integer("lease_seconds", 60, 86400)
    eval_fraction = _rate("eval_fraction")
    agreement_every = _integer("agreement_every", 0, 1_000_000)
    categories = _list("categories")
    criteria = _list("criteria")
    harm_categories = _list("harm_categories")
    system_prompt = forms.CharField(
        required=False,
        strip=False,
        help_text=HELP["system_prompt"],
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    auto_approve_text = forms.BooleanField(required=False, help_text=HELP["auto_approve_text"])

    @classmethod
    def for_project(cls, project: Project) -> "ProjectSettingsForm":
        initial = {name: getattr(project, name) for name in cls.base_fields}
        for name in LIST_SETTINGS:
            initial[name] = "\n".join(initial[name])
        return cls(initial=initial)

    def changes(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        for name in LIST_SETTINGS:
            data[name] = lines(data[name])
        return data


class GuidelinesForm(forms.Form):
    guidelines = forms.CharField(
        required=False,
        strip=False,
        max_length=services.MAX_GUIDELINES,
        help_text=HELP["guidelines"],
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "true"}),
    )


class MemberAddForm(ServiceErrorsMixin, forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class UserCreateForm(ServiceErrorsMixin, forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to generate one; it is shown once.",
    )
    role = forms.ChoiceField(
        choices=[("", "Do not add to this project"), *Role.choices],
        required=False,
        initial=Role.ANNOTATOR,
        label="Add to this project as",
    )


class UploadForm(forms.Form):
    file = forms.FileField(
        help_text=(
            'A JSON array (or {"items": [...]}), JSONL (one item per line) or CSV file (a '
            "header row, then one item per row); up to 10,000 items and 50 MB per file."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".json,.jsonl,.ndjson,.csv"}),
    )


# --- the items browser --------------------------------------------------------------------

# The items browser filters like the items API (annotation.filters).
ItemBrowseFilter = ItemFilter
