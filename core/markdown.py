"""Markdown rendered and sanitised for the page: guidelines that leads write, and the text of
items (prompts, model responses, drafts) that models and users wrote.

markdown-it renders with raw HTML turned off, then nh3 keeps only a small list of tags and
attributes; only after that is the result marked safe. This is the one sanctioned place for
`mark_safe` on text a user wrote. Code fences in item text are highlighted by Pygments (class
names only: the colours are the stylesheet's).
"""

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

ALLOWED_TAGS = {
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "strong",
    "em",
    "code",
    "pre",
    "blockquote",
    "a",
    "hr",
    "br",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
# "*": nothing on every tag (nh3 would keep `lang` and `title` everywhere otherwise).
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {"a": {"href"}, "*": set()}
URL_SCHEMES = {"http", "https", "mailto"}

_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


def _highlight(code: str, language: str, _attrs: str) -> str:
    """A fenced block as Pygments' spans (classes only); an unknown language stays plain."""
    try:
        lexer = get_lexer_by_name(language) if language else TextLexer()
    except ClassNotFound:
        lexer = TextLexer()
    return highlight(code, lexer, HtmlFormatter(nowrap=True, classprefix="hl-"))


_model_markdown = MarkdownIt("commonmark", {"html": False, "highlight": _highlight}).enable(
    ["table", "strikethrough"]
)
# What item text may keep: the guidelines' tags, strikethrough, and highlighting's spans.
MODEL_TAGS = ALLOWED_TAGS | {"span", "s", "del"}
MODEL_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href"},
    "span": {"class"},
    "code": {"class"},
    "*": set(),
}


def render_markdown(text: str) -> SafeString:
    """HTML for `text`: markdown without raw HTML, cleaned down to the allowed tags."""
    html = _markdown.render(text or "")
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )
    return mark_safe(cleaned)  # sanitised by nh3 just above


def render_model_text(text: str) -> SafeString:
    """HTML for a prompt, a model's response or a draft: markdown (lists, tables, code fences
    with highlighting), raw HTML left as text, cleaned down to the allowed tags."""
    html = _model_markdown.render(text or "")
    cleaned = nh3.clean(
        html,
        tags=MODEL_TAGS,
        attributes=MODEL_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(cleaned)  # sanitised by nh3 just above
