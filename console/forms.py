"""Forms of the lead's console. They turn posted text into typed values; the rules (ranges,
lists, the last lead) live in the services, whose errors the views put back on these forms."""

from typing import Any

from django import forms
from django.forms.fields import InvalidJSONInput, JSONString

from annotation import project_settings
from annotation.filters import ItemFilter
from annotation.models import Kind, Project, Role
from annotation.project_settings import Type
from core import parsers
from core.errors import ApplicationError

LIST_SETTINGS = tuple(s.name for s in project_settings.SETTINGS if s.type == Type.LABELS)
CRITERIA_SETTINGS = tuple(
    s.name for s in project_settings.SETTINGS if s.type == Type.SCORED_CRITERIA
)
RULES_SETTINGS = tuple(s.name for s in project_settings.SETTINGS if s.type == Type.ROUTING_RULES)


def lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


class JSONField(forms.JSONField):
    """Django's JSON form field, refusing as invalid what the API's parser refuses (nesting too
    deep for the decoder, NaN and Infinity, lone surrogates) instead of failing with a 500."""

    def to_python(self, value: Any) -> Any:
        if self.disabled or value in self.empty_values or type(value) is not str:
            return super().to_python(value)  # not posted text: as Django does
        try:
            converted = parsers.loads(value)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}.", code="invalid") from None
        return JSONString(converted) if isinstance(converted, str) else converted

    def bound_data(self, data: Any, initial: Any) -> Any:
        """What the form shows again after an error: the text as posted when it is refused."""
        if self.disabled or data is None:
            return super().bound_data(data, initial)
        try:
            return parsers.loads(data)
        except ValueError:
            return InvalidJSONInput(data)


def setting_field(name: str, **overrides: Any) -> forms.Field:
    """The form field of a project setting: its label, help text and range from
    annotation.project_settings (`overrides`: other arguments of the field). The form turns
    posted text into typed values; the setting's own check, in the service, says what is wrong
    with them."""
    setting = project_settings.get(name)
    kwargs: dict[str, Any] = {"label": setting.label, "help_text": setting.help}
    field_class: type[forms.Field]
    match setting.type:
        case Type.NAME:
            field_class = forms.CharField
            kwargs["max_length"] = project_settings.MAX_NAME
        case Type.KINDS:
            field_class = forms.MultipleChoiceField
            kwargs.update(choices=Kind.choices, required=False, widget=forms.CheckboxSelectMultiple)
        case Type.INTEGER:
            field_class = forms.IntegerField
            attrs = {"min": setting.minimum, "max": setting.maximum}
            kwargs["widget"] = forms.NumberInput(attrs=attrs)
        case Type.FRACTION:
            field_class = forms.FloatField
            attrs = {"step": "any", "min": f"{setting.minimum:g}", "max": f"{setting.maximum:g}"}
            kwargs["widget"] = forms.NumberInput(attrs=attrs)
            if setting.nullable:
                kwargs["required"] = False  # empty: off
        case Type.LABELS:
            field_class = forms.CharField
            kwargs.update(required=False, widget=forms.Textarea(attrs={"rows": 6}))
        case Type.TEXT:
            field_class = forms.CharField
            kwargs.update(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 3}))
        case Type.BOOLEAN:
            field_class = forms.BooleanField
            kwargs["required"] = False
        case Type.CHOICE:
            field_class = forms.ChoiceField
            kwargs["choices"] = setting.choices
        case Type.SCORED_CRITERIA:
            field_class = JSONField
            # Left empty: unchanged (ProjectSettingsForm.changes leaves it out).
            kwargs.update(
                required=False, widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"})
            )
        case Type.ROUTING_RULES:
            field_class = JSONField
            kwargs.update(
                required=False, widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})
            )
    return field_class(**{**kwargs, **overrides})


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
    name = setting_field("name")
    kinds = setting_field("kinds", initial=project_settings.get("kinds").initial)
    annotations_per_item = setting_field(
        "annotations_per_item", initial=project_settings.get("annotations_per_item").initial
    )

    def settings(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class ProjectSettingsForm(ServiceErrorsMixin, forms.Form):
    """Every project setting but the guidelines (they have an editor of their own)."""

    name = setting_field("name")
    kinds = setting_field("kinds")
    annotations_per_item = setting_field("annotations_per_item")
    review_sample_rate = setting_field("review_sample_rate")
    gold_rate = setting_field("gold_rate")
    gold_threshold = setting_field("gold_threshold")
    lease_seconds = setting_field("lease_seconds")
    eval_fraction = setting_field("eval_fraction")
    agreement_every = setting_field("agreement_every")
    categories = setting_field("categories")
    criteria = setting_field("criteria")
    harm_categories = setting_field("harm_categories")
    system_prompt = setting_field("system_prompt")
    auto_approve_text = setting_field("auto_approve_text")
    suggestions = setting_field("suggestions")
    rubric = setting_field("rubric")
    queue_order = setting_field("queue_order")
    auto_accept_above = setting_field("auto_accept_above")
    audit_rate = setting_field("audit_rate")
    always_review = setting_field("always_review")
    calibration_target = setting_field("calibration_target")
    near_duplicate_threshold = setting_field("near_duplicate_threshold")
    review_prediction = setting_field("review_prediction")
    review_gold_rate = setting_field("review_gold_rate")

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
        for name in CRITERIA_SETTINGS:
            if data.get(name) in (None, ""):
                data.pop(name, None)
        for name in RULES_SETTINGS:
            if data.get(name) in (None, ""):
                data[name] = []  # emptied: no rule
        return data


class GuidelinesForm(forms.Form):
    guidelines = setting_field(
        "guidelines",
        max_length=project_settings.MAX_GUIDELINES,
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
