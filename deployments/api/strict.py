"""Request bodies are held to their schema, where DRF would quietly guess or ignore.

- JSON types: `"replicas": "3"` or `"name": 5` is a 400 naming the field. DRF fields and
  `validate_spec` also serve form posts, where every value is text, so they read "3" as 3 and
  5 as "5"; a JSON client sending the wrong type has a bug, and is told so. Multipart bodies
  (a QueryDict) are left to the fields' own parsing.
- Text with a NUL character, in any field (DRF checks only its text fields; a slug looked up or
  a value stored as JSON would reach PostgreSQL, which refuses NUL, and answer 500).
- Read-only fields: sent back as they are (a GET's answer, edited, then PUT) they are fine;
  a different value is a 400 saying it cannot be set, not silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django.http import QueryDict
from rest_framework import serializers

# Most specific first: BooleanField is no IntegerField, but ChoiceField, RegexField, SlugRelatedField are text.
NUL = "\x00"
NUL_REFUSED = "Null characters are not allowed."  # DRF's own words for its text fields

# A field may say its own with a `json_types = ((types…), "words")` attribute.
_EXPECTED: list[tuple[type, tuple[type, ...], str]] = [
    (serializers.BooleanField, (bool,), "true or false"),  # the words of rollouts.spec's own check
    (serializers.IntegerField, (int,), "a whole number"),
    (serializers.FloatField, (int, float), "a number"),
    (serializers.CharField, (str,), "text (a JSON string)"),
    (serializers.ChoiceField, (str,), "text (a JSON string)"),
    (serializers.RelatedField, (str,), "text (a JSON string)"),
]


def json_type_errors(serializer: serializers.Serializer, data: Any, prefix: str = "") -> dict[str, list[str]]:
    """The fields of `data` whose JSON type is not the one `serializer` documents, keyed like `variations.0.replicas`."""
    if isinstance(data, QueryDict) or not isinstance(data, Mapping):
        return {}
    errors: dict[str, list[str]] = {}
    for name, field in serializer.fields.items():
        if not field.read_only and name in data:
            _check(field, data[name], f"{prefix}{name}", errors)
    return errors


def _check(field: serializers.Field, value: Any, key: str, errors: dict[str, list[str]]) -> None:
    if isinstance(value, str) and NUL in value:  # PostgreSQL stores no NUL, in text or in JSON
        errors[key] = [NUL_REFUSED]
    elif value is None:
        if not field.allow_null:
            errors[key] = [str(field.error_messages["null"])]
    elif isinstance(field, serializers.ListSerializer):
        if not isinstance(value, list):
            errors[key] = ["Use a list."]
            return
        for index, item in enumerate(value):
            if field.child is not None:
                _check(field.child, item, f"{key}.{index}", errors)
    elif isinstance(field, serializers.Serializer):
        if not isinstance(value, Mapping):
            errors[key] = ["Use an object."]
            return
        errors.update(json_type_errors(field, value, f"{key}."))
    elif (expected := _expected(field)) is not None:
        types, words = expected
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            errors[key] = [f"Use {words}{_range(field)}."]


def _expected(field: serializers.Field) -> tuple[tuple[type, ...], str] | None:
    if hasattr(field, "json_types"):
        return field.json_types
    return next(((types, words) for kind, types, words in _EXPECTED if isinstance(field, kind)), None)


def _range(field: serializers.Field) -> str:
    """' from 1 to 100' for a bounded number, as rollouts.spec words a form's bad number."""
    low, high = getattr(field, "min_value", None), getattr(field, "max_value", None)
    return f" from {low} to {high}" if low is not None and high is not None else ""


class StrictInput(serializers.Serializer):
    # Refuses a JSON value of the wrong type, or a new value for a read-only field, before the fields
    # would convert or drop it. (A comment, not a docstring: drf-spectacular would show a docstring
    # as every subclass's schema description.)
    # Messages for read-only fields a caller may think it can change, e.g. {"slug": "…cannot change."}.
    fixed_messages: ClassVar[dict[str, str]] = {}

    def to_internal_value(self, data: Any) -> Any:
        errors = {**json_type_errors(self, data), **self._read_only_errors(data)}
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)

    def _read_only_errors(self, data: Any) -> dict[str, list[str]]:
        if not isinstance(data, Mapping):
            return {}
        sent = [name for name, field in self.fields.items() if field.read_only and name in data]
        current = self.to_representation(self.instance) if sent and self.instance is not None else {}
        return {name: [self.fixed_messages.get(name, f"{name} is set by the server; leave it out.")]
                for name in sent if name not in current or data[name] != current[name]}
