"""The evaluation report's chart, drawn on the server as SVG (as console/charts.py draws the
dashboard's): a point per model with its interval as a bar, on a shared axis.

No script, no CDN. Model names are user text and go through `format_html`, which escapes
them; the figure is followed by the same numbers as a data table.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH = 640
FONT = 12
POINT = "#0072b2"
BAR = "#56b4e9"
_ids = count(1)


@dataclass(frozen=True)
class Estimate:
    label: str
    value: float
    low: float | None
    high: float | None
    note: str = ""  # shown in the data table, e.g. "n=120"


def _f(value: float) -> str:
    return f"{value:.1f}"


def _short(label: str, limit: int = 28) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def interval_chart(
    estimates: Sequence[Estimate],
    *,
    title: str,
    value_heading: str,
    empty: str = "Nothing to show yet.",
    digits: int = 3,
) -> SafeString:
    """One row per estimate: its interval as a bar, the value as a dot, highest first as
    given."""
    if not estimates:
        return format_html(
            '<figure class="chart"><figcaption>{}</figcaption><p class="empty">{}</p></figure>',
            title,
            empty,
        )
    uid = f"eval-chart-{next(_ids)}"
    longest = max(len(_short(e.label)) for e in estimates)
    left = min(220, 12 + longest * 7)
    right = 70
    row = 24
    top = 8
    axis = 18
    height = top + row * len(estimates) + axis + 4
    span = WIDTH - left - right
    values = [v for e in estimates for v in (e.value, e.low, e.high) if v is not None]
    lo, hi = min(0.0, min(values)), max(values)
    if hi <= lo:
        hi = lo + 1

    def x(value: float) -> float:
        return left + (value - lo) / (hi - lo) * span

    parts = []
    for i, e in enumerate(estimates):
        y = top + i * row + row / 2
        low = e.low if e.low is not None else e.value
        high = e.high if e.high is not None else e.value
        text = f"{e.value:.{digits}f}"
        if e.low is not None and e.high is not None:
            text += f" [{e.low:.{digits}f}, {e.high:.{digits}f}]"
        parts.append(
            format_html(
                '<g class="estimate"><title>{label}: {text}</title>'
                '<text x="{lx}" y="{ty}" text-anchor="end">{short}</text>'
                '<line x1="{x1}" x2="{x2}" y1="{y}" y2="{y}" stroke="{bar}" stroke-width="6" '
                'stroke-linecap="round"/>'
                '<circle cx="{cx}" cy="{y}" r="4.5" fill="{point}"/>'
                '<text x="{vx}" y="{ty}" class="value">{value}</text></g>',
                label=e.label,
                text=text,
                lx=_f(left - 8),
                ty=_f(y + 4),
                short=_short(e.label),
                x1=_f(x(low)),
                x2=_f(x(high)),
                y=_f(y),
                bar=BAR,
                cx=_f(x(e.value)),
                point=POINT,
                vx=_f(WIDTH - right + 6),
                value=f"{e.value:.{digits}f}",
            )
        )
    base = top + row * len(estimates)
    ticks = [lo + (hi - lo) * k / 4 for k in range(5)]
    parts.append(
        format_html(
            '<line x1="{x1}" x2="{x2}" y1="{y}" y2="{y}" stroke="#999"/>',
            x1=_f(left),
            x2=_f(left + span),
            y=_f(base),
        )
    )
    for tick in ticks:
        parts.append(
            format_html(
                '<text x="{x}" y="{y}" text-anchor="middle" fill="#555">{t}</text>',
                x=_f(x(tick)),
                y=_f(base + axis - 4),
                t=f"{tick:.2f}",
            )
        )
    rows = format_html_join(
        "",
        "<tr><th scope='row'>{}</th><td class='num'>{}</td><td class='num'>{}</td>"
        "<td class='num'>{}</td><td>{}</td></tr>",
        (
            (
                e.label,
                f"{e.value:.{digits}f}",
                "—" if e.low is None else f"{e.low:.{digits}f}",
                "—" if e.high is None else f"{e.high:.{digits}f}",
                e.note,
            )
            for e in estimates
        ),
    )
    description = "; ".join(
        f"{e.label}: {e.value:.{digits}f}"
        + ("" if e.low is None else f" (95% interval {e.low:.{digits}f} to {e.high:.{digits}f})")
        for e in estimates[:20]
    )
    return format_html(
        '<figure class="chart"><figcaption>{title}</figcaption>'
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" '
        'role="img" aria-labelledby="{uid}-t {uid}-d" font-size="{font}" '
        'font-family="system-ui, sans-serif">'
        '<title id="{uid}-t">{title}</title><desc id="{uid}-d">{desc}</desc>{body}</svg>'
        '<details class="chart-data"><summary>Data table</summary>'
        '<table class="list compact"><thead><tr><th scope="col"></th>'
        '<th scope="col">{heading}</th><th scope="col">Low</th><th scope="col">High</th>'
        '<th scope="col"></th></tr></thead><tbody>{rows}</tbody></table></details></figure>',
        title=title,
        w=WIDTH,
        h=height,
        uid=uid,
        font=FONT,
        desc=description,
        body=mark_safe("".join(parts)),
        heading=value_heading,
        rows=rows,
    )
