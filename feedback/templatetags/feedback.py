"""`{% work_news membership %}`: how many outcomes of the member's work arrived since they
last opened "My work" (the navigation's badge)."""

from django import template

from feedback.selectors import news_count

register = template.Library()


@register.simple_tag
def work_news(membership) -> int:
    if membership is None or getattr(membership, "pk", None) is None:
        return 0
    return news_count(membership=membership)
