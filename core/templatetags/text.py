"""`{{ text|model_text }}`: item text (a prompt, a model's response, a draft) as sanitised
markdown (core.markdown.render_model_text)."""

from django import template

from core.markdown import render_model_text

register = template.Library()


@register.filter
def model_text(text) -> str:
    return render_model_text(str(text) if text is not None else "")
