"""Each project setting is described once (annotation.project_settings) and everything that
knows a setting reads that description: the service's checks, the model's defaults and range
constraints, the console's forms and the REST API's bodies."""

import pytest
from django.db.models import Q

from annotation import project_settings
from annotation.apis import ProjectOutputSerializer, ProjectSettingsSerializer
from annotation.models import Project
from annotation.project_settings import SETTINGS, Type
from annotation.services import project_settings_clean
from console.forms import GuidelinesForm, ProjectCreateForm, ProjectSettingsForm
from core.errors import ApplicationError


def test_every_setting_is_a_project_column_whose_default_is_the_settings():
    for setting in SETTINGS:
        field = Project._meta.get_field(setting.name)
        if setting.required:
            assert not field.has_default(), setting.name
        else:
            assert field.default == setting.default, setting.name


def test_the_range_constraints_are_generated_from_the_ranges():
    constraints = {c.name: c for c in Project._meta.constraints}
    ranged = project_settings.ranged()
    chosen = project_settings.chosen()
    assert {s.constraint for s in [*ranged, *chosen]} == set(constraints)
    for setting in chosen:
        values = [value for value, _ in setting.choices]
        assert constraints[setting.constraint].condition == Q(**{f"{setting.name}__in": values})
    for setting in ranged:
        expected = Q(
            **{f"{setting.name}__gte": setting.minimum, f"{setting.name}__lte": setting.maximum}
        )
        assert constraints[setting.constraint].condition == expected


def test_the_overlap_constraint_keeps_its_name():
    assert project_settings.get("annotations_per_item").constraint == "project_overlap_range"


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_a_setting_takes_its_default_and_refuses_what_is_out_of_range(setting):
    if not setting.required:
        assert setting.check(setting.initial) is None
    if setting.minimum is not None:
        assert setting.check(setting.minimum) is None
        assert setting.check(setting.maximum) is None
        below = setting.check(setting.minimum - 1)
        assert below == f"Must be from {setting.minimum:g} to {setting.maximum:g}."


def test_the_service_reports_every_problem_with_the_settings_messages():
    with pytest.raises(ApplicationError) as raised:
        project_settings_clean({"lease_seconds": 59, "gold_rate": 2, "bogus": 1}, creating=True)
    errors = raised.value.extra["errors"]
    assert {"field": "lease_seconds", "message": "Must be from 60 to 86400."} in errors
    assert {"field": "gold_rate", "message": "Must be from 0 to 1."} in errors
    assert {"field": "name", "message": "This field is required."} in errors
    assert errors[0] == {"field": "bogus", "message": project_settings.unknown_message()}


def test_the_settings_form_takes_labels_help_texts_and_ranges_from_the_settings():
    form = ProjectSettingsForm()
    assert set(form.fields) == set(project_settings.NAMES) - {"guidelines"}
    for name, field in form.fields.items():
        setting = project_settings.get(name)
        assert field.label == setting.label
        assert field.help_text == setting.help
        if setting.minimum is not None:
            assert field.widget.attrs["min"] in (setting.minimum, f"{setting.minimum:g}")
            assert field.widget.attrs["max"] in (setting.maximum, f"{setting.maximum:g}")
    guidelines = GuidelinesForm().fields["guidelines"]
    assert guidelines.help_text == project_settings.get("guidelines").help
    assert guidelines.max_length == project_settings.MAX_GUIDELINES


def test_the_new_project_form_starts_from_the_defaults():
    form = ProjectCreateForm()
    assert form.fields["annotations_per_item"].initial == 2
    assert form.fields["kinds"].initial == project_settings.get("kinds").initial


def test_the_api_bodies_list_every_setting_with_its_range_and_default():
    fields = ProjectSettingsSerializer().fields
    assert list(fields) == list(project_settings.NAMES)
    for setting in SETTINGS:
        field = fields[setting.name]
        assert field.help_text == setting.help
        assert field.required == setting.required
        if not setting.required:
            assert field.default == setting.initial
        if setting.type in (Type.INTEGER, Type.FRACTION):
            assert (field.min_value, field.max_value) == (setting.minimum, setting.maximum)
    output = ProjectOutputSerializer().fields
    assert [n for n in output if n in project_settings.NAMES] == list(project_settings.NAMES)
