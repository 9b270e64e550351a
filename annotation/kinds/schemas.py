"""The OpenAPI description of item data and annotation payloads, one schema per kind.

Each kind gives two serializers (`ItemKind.data_serializer()`, `ItemKind.payload_serializer()`)
that describe its JSON; they document, they never validate: `check_data` and `check_payload`
do, with the messages the API returns. What is here builds on them from the registry:

* the fields an API body declares for item data, a payload and a gold answer
  (`ItemDataField`, `PayloadField`, `GoldField`): at runtime the JSON as stored, in the schema
  a `oneOf` of every kind's schema;
* `by_kind(serializer, name)`: a body that carries `kind` as a `oneOf` of one variant per kind,
  with `kind` as the discriminator and, in each variant, every data, payload and gold field
  (nested ones too) in that kind's terms. Views use the serializer itself at runtime and
  `by_kind(...)` in `@extend_schema`.
"""

import copy
import functools
from typing import Any

from drf_spectacular.drainage import get_override
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import (
    PolymorphicProxySerializer,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers

from annotation.kinds.base import MAX_MESSAGES, MAX_TEXT, ROLES, ItemKind, kind_get, registry

# --- what every kind's data shares ---------------------------------------------------------------


@extend_schema_serializer(component_name="Message")
class MessageSchema(serializers.Serializer):
    """One turn of a conversation."""

    role = serializers.ChoiceField(choices=ROLES)
    content = serializers.CharField(max_length=MAX_TEXT)


class PromptDataSchema(serializers.Serializer):
    """The fields every kind's data takes: `prompt` or `messages` (exactly one of the two),
    and an optional `system`. A kind's data serializer adds its own fields."""

    prompt = serializers.CharField(
        required=False,
        max_length=MAX_TEXT,
        help_text="The request as one user turn. Give either prompt or messages.",
    )
    messages = MessageSchema(
        many=True,
        required=False,
        min_length=1,
        max_length=MAX_MESSAGES,
        help_text="A conversation whose last turn is the user's. Give either prompt or messages.",
    )
    system = serializers.CharField(
        required=False, max_length=MAX_TEXT, help_text="A system prompt for this item."
    )


# --- the fields of API bodies ---------------------------------------------------------------------


def _union(name: str, serializer_of: str) -> PolymorphicProxySerializer:
    return PolymorphicProxySerializer(
        component_name=name,
        serializers=lambda: [_schema(kind, serializer_of) for kind in registry],
        resource_type_field_name=None,
    )


@extend_schema_field(_union("ItemData", "data"))
class ItemDataField(serializers.JSONField):
    """An item's data as stored (or as a blind reader sees it)."""


@extend_schema_field(_union("AnnotationPayload", "payload"))
class PayloadField(serializers.JSONField):
    """An annotation payload of the item's kind, in A/B terms for a preference."""


@extend_schema_field(_union("GoldAnswer", "gold"))
class GoldField(serializers.JSONField):
    """A gold item's known answer: a payload of its kind in which only the scored field is
    required."""


class BlindItemDataField(ItemDataField):
    """An item's data as annotators and reviewers read it: without model names. Reads the
    item itself (its source is "*")."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("source", "*")
        super().__init__(**kwargs)

    def to_representation(self, item: Any) -> Any:
        return kind_get(item.kind).blind(item.data)


def _schema(kind: ItemKind, what: str) -> type[serializers.Serializer]:
    if what == "data":
        return kind.data_serializer()
    if what == "payload":
        return kind.payload_serializer()
    return gold_serializer(kind)


@functools.cache
def gold_serializer(kind: ItemKind) -> type[serializers.Serializer]:
    """The kind's payload serializer with every field but the scored one optional (a gold
    answer is scored on that field alone; `validate_payload(..., gold=True)` checks it)."""
    payload = kind.payload_serializer()
    fields = {}
    for name, field in payload._declared_fields.items():
        kwargs = {**copy.deepcopy(field._kwargs), "required": name == kind.scored_field}
        fields[name] = type(field)(*copy.deepcopy(field._args), **kwargs)
    gold = type(f"{kind.label}GoldSchema", (payload,), fields)
    gold.__doc__ = (
        f"A gold answer of a {kind.name} item: its payload, of which only "
        f"`{kind.scored_field}` is required."
    )
    return extend_schema_serializer(component_name=f"{kind.label}Gold")(gold)


# --- bodies that carry `kind` ---------------------------------------------------------------------

_KIND_FIELDS = (ItemDataField, PayloadField, GoldField)
# Keyword arguments a data, payload or gold field passes on to the kind's serializer.
_PASSED_ON = ("required", "allow_null", "help_text", "read_only", "label")


@functools.cache
def by_kind(
    serializer: type[serializers.Serializer], name: str, *, many: bool = False
) -> PolymorphicProxySerializer:
    """`serializer` as a `oneOf` (component `name`) with one variant per kind (component
    `<Kind label><name>`), discriminated by its `kind` field; `many`: a list of them."""
    return PolymorphicProxySerializer(
        component_name=name,
        serializers=lambda: {kind.name: _variant(serializer, kind, name) for kind in registry},
        resource_type_field_name="kind",
        many=many,
    )


def nested_by_kind(
    serializer: type[serializers.Serializer], name: str, **kwargs: Any
) -> serializers.Serializer:
    """`serializer(**kwargs)` as a field of another body: itself at runtime, `by_kind(serializer,
    name)` in the schema."""
    return _documented_by_kind(serializer, name)(**kwargs)


@functools.cache
def _documented_by_kind(
    serializer: type[serializers.Serializer], name: str
) -> type[serializers.Serializer]:
    documented = type(serializer.__name__, (serializer,), {"__doc__": serializer.__doc__})
    return extend_schema_field(by_kind(serializer, name))(documented)


def _component_name(serializer: type[serializers.Serializer]) -> str:
    name = get_override(serializer, "component_name")
    if name:
        return name
    name = serializer.__name__
    return name.removesuffix("Serializer") or name


def _has_kind_fields(serializer: type[serializers.Serializer]) -> bool:
    return any(
        isinstance(field, _KIND_FIELDS)
        or (isinstance(field, serializers.ListSerializer) and _has_kind_fields(type(field.child)))
        or (isinstance(field, serializers.Serializer) and _has_kind_fields(type(field)))
        for field in serializer._declared_fields.values()
    )


@functools.cache
def _variant(
    serializer: type[serializers.Serializer], kind: ItemKind, name: str, *, with_kind: bool = True
) -> type[serializers.Serializer]:
    fields: dict[str, Any] = {}
    if with_kind:
        fields["kind"] = _kind_field(kind)
    for field_name, field in serializer._declared_fields.items():
        if field_name == "kind" and with_kind:
            continue
        specialised = _in_kind_terms(field, kind)
        if specialised is not None:
            fields[field_name] = specialised
    variant = type(f"{kind.label}{name}Schema", (serializer,), fields)
    variant.__doc__ = serializer.__doc__
    return extend_schema_serializer(component_name=f"{kind.label}{name}")(variant)


_KIND_MARK = "x-rubric-kind"


@functools.cache
def _kind_field_class(kind: ItemKind) -> type[serializers.Field]:
    # A class, not an instance: a serializer deep-copies its fields, which drops what an
    # instance was given. `postprocess_kind_enums` turns the mark into a reference.
    field = type(f"{kind.label}KindField", (serializers.CharField,), {})
    return extend_schema_field({"type": "string", _KIND_MARK: kind.name})(field)


def _kind_field(kind: ItemKind) -> serializers.Field:
    return _kind_field_class(kind)()


def postprocess_kind_enums(result: dict, generator: Any, **kwargs: Any) -> dict:
    """A drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS, before the enum hook):
    the `kind` of every variant of a kind refers to one component, `<Kind label>Kind`, whose
    only value is the kind's name (instead of an enum per variant that collide by name)."""
    schemas = result.get("components", {}).get("schemas", {})
    for schema in schemas.values():
        properties = schema.get("properties") or {}
        mark = properties.get("kind", {}).get(_KIND_MARK)
        if mark is None:
            continue
        kind = registry.get(mark)
        component = ResolvedComponent(
            name=f"{kind.label}Kind",
            type=ResolvedComponent.SCHEMA,
            schema={
                "type": "string",
                "enum": [kind.name],
                "description": f"A {kind.label.lower()} item.",
            },
            object=f"{kind.label}Kind",
        )
        generator.registry.register_on_missing(component)
        properties["kind"] = component.ref
    result["components"] = generator.registry.build(spectacular_settings.APPEND_COMPONENTS)
    return result


def _in_kind_terms(field: serializers.Field, kind: ItemKind) -> serializers.Field | None:
    """The field with its data, payload or gold answer in `kind`'s terms (None: unchanged)."""
    if isinstance(field, _KIND_FIELDS):
        what = {ItemDataField: "data", PayloadField: "payload", GoldField: "gold"}
        target = next(v for cls, v in what.items() if isinstance(field, cls))
        kwargs = {k: v for k, v in field._kwargs.items() if k in _PASSED_ON}
        return _schema(kind, target)(**kwargs)
    if isinstance(field, serializers.ListSerializer) and _has_kind_fields(type(field.child)):
        child = field.child
        nested = _variant(type(child), kind, _component_name(type(child)), with_kind=False)
        return nested(*copy.deepcopy(child._args), many=True, **copy.deepcopy(child._kwargs))
    if isinstance(field, serializers.Serializer) and _has_kind_fields(type(field)):
        nested = _variant(type(field), kind, _component_name(type(field)), with_kind=False)
        return nested(*copy.deepcopy(field._args), **copy.deepcopy(field._kwargs))
    return None
