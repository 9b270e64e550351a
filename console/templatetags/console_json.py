"""`{{ value|pretty_json }}`: JSON as the console shows it (indented, keys sorted)."""

import json
from typing import Any

from django import template

register = template.Library()


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
