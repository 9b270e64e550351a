"""Charts drawn on the server as SVG: bars, columns, stacked bars and lines.

No script and no CDN: the page gets plain markup. Every label is user text (category names,
usernames, field names) and goes through `format_html`, which escapes it; only numbers we
compute and markup we write are left as they are. Each chart is a `<figure>` whose SVG has an
accessible `<title>` and `<desc>`, followed by the same figures as a data table (in a
`<details>`), so nothing is conveyed by the drawing alone.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import count

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

# Colour-blind-safe palette (Okabe-Ito), then greys.
PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#000000",
    "#999999",
)
WARN_FILL = "#b42318"
BAR_FILL = PALETTE[0]
WIDTH = 640
FONT = 12
_ids = count(1)


def _join(parts: Sequence[SafeString | str]) -> SafeString:
    # Every part is the output of format_html / format_html_join (already escaped).
    return mark_safe("".join(parts))


def _svg(template: str, **values: object) -> SafeString:
    """format_html with floats written to one decimal (format_html turns values into escaped
    strings first, so format specs cannot be used in the template)."""
    return format_html(
        template, **{k: f"{v:.1f}" if isinstance(v, float) else v for k, v in values.items()}
    )


def _number(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _short(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


@dataclass(frozen=True)
class Table:
    """The data table under a chart: a header row and rows of cells (strings)."""

    header: Sequence[str]
    rows: Sequence[Sequence[str]]


def _figure(
    *, title: str, description: str, width: int, height: int, body: SafeString, table: Table
) -> SafeString:
    uid = f"chart-{next(_ids)}"
    header = format_html_join("", "<th scope='col'>{}</th>", ((h,) for h in table.header))
    rows = _join(
        [
            format_html(
                "<tr><th scope='row'>{}</th>{}</tr>",
                row[0],
                format_html_join("", "<td class='num'>{}</td>", ((cell,) for cell in row[1:])),
            )
            for row in table.rows
        ]
    )
    return _svg(
        '<figure class="chart"><figcaption>{title}</figcaption>'
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" '
        'role="img" aria-labelledby="{uid}-t {uid}-d" font-size="{font}" '
        'font-family="system-ui, sans-serif">'
        '<title id="{uid}-t">{title}</title><desc id="{uid}-d">{desc}</desc>{body}</svg>'
        '<details class="chart-data"><summary>Data table</summary>'
        '<table class="list compact"><thead><tr>{header}</tr></thead><tbody>{rows}</tbody>'
        "</table></details></figure>",
        title=title,
        w=width,
        h=height,
        uid=uid,
        font=FONT,
        desc=description,
        body=body,
        header=header,
        rows=rows,
    )


def _empty(title: str, message: str) -> SafeString:
    return format_html(
        '<figure class="chart"><figcaption>{}</figcaption><p class="empty">{}</p></figure>',
        title,
        message,
    )


def _labelled(i: int, n: int, every: int) -> bool:
    """Whether the i-th of n axis positions gets a label: every `every`-th and the last, but
    not one so close to the last that the two would overlap."""
    if i == n - 1:
        return True
    return i % every == 0 and (n - 1 - i) >= max(1, every * 2 // 3)


def _label_width(labels: Sequence[str], limit: int) -> int:
    longest = max((len(_short(label, limit)) for label in labels), default=4)
    return min(12 + longest * 7, 12 + limit * 7)


# --- horizontal bars -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    note: str = ""  # shown after the value, e.g. "12%"
    warn: bool = False


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    value_heading: str = "Count",
    empty: str = "Nothing to show yet.",
) -> SafeString:
    """One horizontal bar per label; bars with `warn` are drawn in the warning colour."""
    if not bars:
        return _empty(title, empty)
    limit = 24
    left = _label_width([b.label for b in bars], limit)
    right = 90
    row = 22
    top = 6
    height = top * 2 + row * len(bars)
    span = WIDTH - left - right
    most = max((b.value for b in bars), default=0) or 1
    parts = []
    for i, bar in enumerate(bars):
        y = top + i * row
        length = max(0.0, bar.value / most * span)
        text = _number(bar.value) + (f" ({bar.note})" if bar.note else "")
        parts.append(
            _svg(
                '<g class="bar{warn}"><title>{label}: {text}</title>'
                '<text x="{lx}" y="{ty}" text-anchor="end">{short}</text>'
                '<rect x="{x}" y="{y}" width="{wd}" height="{h}" fill="{fill}" rx="2"/>'
                '<text x="{vx}" y="{ty}" class="value">{warn_mark}{text}</text></g>',
                warn=" warn" if bar.warn else "",
                label=bar.label,
                text=text,
                lx=left - 6,
                ty=y + row / 2 + 4,
                short=_short(bar.label, limit),
                x=left,
                y=y + 3,
                wd=length,
                h=row - 6,
                fill=WARN_FILL if bar.warn else BAR_FILL,
                vx=left + length + 4,
                warn_mark="⚠ " if bar.warn else "",
            )
        )
    parts.append(
        _svg(
            '<line x1="{x}" x2="{x}" y1="{y1}" y2="{y2}" stroke="#999"/>',
            x=left,
            y1=top,
            y2=height - top,
        )
    )
    total = sum(b.value for b in bars)
    description = f"{len(bars)} bars, total {_number(total)}; " + "; ".join(
        f"{b.label}: {_number(b.value)}" for b in bars[:20]
    )
    table = Table(
        header=["", value_heading, "Share" if any(b.note for b in bars) else ""],
        rows=[[b.label, _number(b.value), b.note] for b in bars],
    )
    return _figure(
        title=title,
        description=description,
        width=WIDTH,
        height=height,
        body=_join(parts),
        table=table,
    )


# --- vertical columns (a time series of counts) ----------------------------------------------


def _ticks(top: float, steps: int = 4) -> list[float]:
    if top <= 0:
        return [0.0]
    raw = top / steps
    magnitude = 10 ** (len(str(int(raw))) - 1) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = []
    value = 0.0
    while value <= top + 1e-9:
        ticks.append(value)
        value += step
    if ticks[-1] < top:
        ticks.append(ticks[-1] + step)
    return ticks


def column_chart(
    columns: Sequence[tuple[str, float]],
    *,
    title: str,
    value_heading: str = "Count",
    label_every: int = 5,
    empty: str = "Nothing to show yet.",
) -> SafeString:
    """One column per label (e.g. per day), a value axis with round ticks."""
    if not columns or not any(value for _, value in columns):
        return _empty(title, empty)
    left, right, top, bottom = 48, 10, 10, 34
    height = 220
    plot_h = height - top - bottom
    ticks = _ticks(max(value for _, value in columns))
    ceiling = ticks[-1] or 1
    slot = (WIDTH - left - right) / len(columns)
    parts = [
        _svg(
            '<g class="tick"><line x1="{x1}" x2="{x2}" y1="{y}" y2="{y}" stroke="#e3e6ec"/>'
            '<text x="{tx}" y="{ty}" text-anchor="end">{label}</text></g>',
            x1=left,
            x2=WIDTH - right,
            y=top + plot_h - tick / ceiling * plot_h,
            tx=left - 6,
            ty=top + plot_h - tick / ceiling * plot_h + 4,
            label=_number(tick),
        )
        for tick in ticks
    ]
    for i, (label, value) in enumerate(columns):
        h = value / ceiling * plot_h
        x = left + i * slot
        parts.append(
            _svg(
                '<g class="column"><title>{label}: {value}</title>'
                '<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}"/></g>',
                label=label,
                value=_number(value),
                x=x + slot * 0.15,
                y=top + plot_h - h,
                w=slot * 0.7,
                h=h,
                fill=BAR_FILL,
            )
        )
        if _labelled(i, len(columns), label_every):
            parts.append(
                _svg(
                    '<text x="{x}" y="{y}" text-anchor="middle" class="axis">{label}</text>',
                    x=x + slot / 2,
                    y=height - bottom + 16,
                    label=label,
                )
            )
    total = sum(value for _, value in columns)
    description = f"{len(columns)} columns from {columns[0][0]} to {columns[-1][0]}, total " + (
        _number(total)
    )
    table = Table(header=["", value_heading], rows=[[lbl, _number(v)] for lbl, v in columns])
    return _figure(
        title=title,
        description=description,
        width=WIDTH,
        height=height,
        body=_join(parts),
        table=table,
    )


def _legend_entry(x: float, y: float, fill: str, text: str) -> SafeString:
    """A legend's colour swatch at (x, y) and its (escaped) text beside it."""
    return _svg(
        '<g class="legend"><rect x="{x}" y="{y}" width="10" height="10" fill="{fill}"/>'
        '<text x="{tx}" y="{ty}">{text}</text></g>',
        x=x,
        y=y,
        fill=fill,
        tx=x + 14,
        ty=y + 9,
        text=text,
    )


# --- stacked horizontal bars ---------------------------------------------------------------


def stacked_bar_chart(
    rows: Sequence[tuple[str, Sequence[float]]],
    segments: Sequence[str],
    *,
    title: str,
    empty: str = "Nothing to show yet.",
) -> SafeString:
    """One horizontal bar per row, split into `segments` (the same order in every row), with a
    legend; bars share one scale so rows compare by length."""
    if not rows or not any(sum(values) for _, values in rows):
        return _empty(title, empty)
    limit = 20
    left = _label_width([label for label, _ in rows], limit)
    right = 70
    row_h, top = 26, 6
    legend_h = 22
    height = top * 2 + row_h * len(rows) + legend_h
    span = WIDTH - left - right
    most = max(sum(values) for _, values in rows) or 1
    parts = []
    for i, (label, values) in enumerate(rows):
        y = top + i * row_h
        x = float(left)
        pieces = []
        for j, value in enumerate(values):
            if not value:
                continue
            width = value / most * span
            pieces.append(
                _svg(
                    '<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}">'
                    "<title>{label}, {segment}: {value}</title></rect>",
                    x=x,
                    y=y + 3,
                    w=width,
                    h=row_h - 6,
                    fill=PALETTE[j % len(PALETTE)],
                    label=label,
                    segment=segments[j],
                    value=_number(value),
                )
            )
            x += width
        parts.append(
            _svg(
                '<g class="stack"><text x="{lx}" y="{ty}" text-anchor="end">{short}</text>{pieces}'
                '<text x="{vx}" y="{ty}" class="value">{total}</text></g>',
                lx=left - 6,
                ty=y + row_h / 2 + 4,
                short=_short(label, limit),
                pieces=_join(pieces),
                vx=x + 4,
                total=_number(sum(values)),
            )
        )
    legend_y = top + row_h * len(rows) + 8
    x = float(left)
    for j, segment in enumerate(segments):
        parts.append(_legend_entry(x, legend_y, PALETTE[j % len(PALETTE)], segment))
        x += 24 + len(segment) * 7
    description = "; ".join(
        f"{label}: " + ", ".join(f"{segments[j]} {_number(v)}" for j, v in enumerate(values) if v)
        for label, values in rows
    )
    table = Table(
        header=["", *segments, "Total"],
        rows=[[label, *map(_number, values), _number(sum(values))] for label, values in rows],
    )
    return _figure(
        title=title,
        description=description,
        width=WIDTH,
        height=height,
        body=_join(parts),
        table=table,
    )


# --- lines ---------------------------------------------------------------------------------------


def line_chart(
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    y_range: tuple[float, float] | None = None,
    y_format: Callable[[float], str] = lambda v: f"{v:.2f}",
    empty: str = "Nothing to show yet.",
) -> SafeString:
    """One line per series over shared x labels; a missing value (None) breaks the line."""
    values = [v for _, points in series for v in points if v is not None]
    if not x_labels or not values:
        return _empty(title, empty)
    low, high = y_range if y_range else (min(values), max(values))
    low, high = min(low, min(values)), max(high, max(values))
    if high == low:
        high = low + 1
    left, right, top, bottom = 48, 12, 10, 30
    legend_rows = (len(series) + 2) // 3
    height = 220 + legend_rows * 18
    plot_h = 220 - top - bottom
    plot_w = WIDTH - left - right

    def px(i: int) -> float:
        return left + (plot_w / 2 if len(x_labels) == 1 else i * plot_w / (len(x_labels) - 1))

    def py(v: float) -> float:
        return top + plot_h - (v - low) / (high - low) * plot_h

    parts = []
    for k in range(5):
        tick = low + (high - low) * k / 4
        parts.append(
            _svg(
                '<g class="tick"><line x1="{x1}" x2="{x2}" y1="{y}" y2="{y}" '
                'stroke="#e3e6ec"/><text x="{tx}" y="{ty}" text-anchor="end">{label}</text></g>',
                x1=left,
                x2=WIDTH - right,
                y=py(tick),
                tx=left - 6,
                ty=py(tick) + 4,
                label=y_format(tick),
            )
        )
    every = max(1, len(x_labels) // 6)
    for i, label in enumerate(x_labels):
        if _labelled(i, len(x_labels), every):
            parts.append(
                _svg(
                    '<text x="{x}" y="{y}" text-anchor="middle" class="axis">{label}</text>',
                    x=px(i),
                    y=220 - bottom + 16,
                    label=label,
                )
            )
    for j, (name, points) in enumerate(series):
        colour = PALETTE[j % len(PALETTE)]
        runs: list[list[tuple[float, float]]] = [[]]
        dots = []
        for i, value in enumerate(points):
            if value is None:
                runs.append([])
                continue
            runs[-1].append((px(i), py(value)))
            dots.append(
                _svg(
                    '<circle cx="{x}" cy="{y}" r="3" fill="{fill}">'
                    "<title>{name}, {label}: {value}</title></circle>",
                    x=px(i),
                    y=py(value),
                    fill=colour,
                    name=name,
                    label=x_labels[i],
                    value=y_format(value),
                )
            )
        lines = [
            _svg(
                '<polyline fill="none" stroke="{stroke}" stroke-width="2" points="{points}"/>',
                stroke=colour,
                points=" ".join(f"{x},{y}" for x, y in run),
            )
            for run in runs
            if len(run) > 1
        ]
        lx = left + (j % 3) * (plot_w / 3)
        ly = 220 + (j // 3) * 18
        legend = _legend_entry(lx, ly, colour, _short(name, 28))
        parts.append(
            _svg(
                '<g class="series">{lines}{dots}{legend}</g>',
                lines=_join(lines),
                dots=_join(dots),
                legend=legend,
            )
        )
    description = f"{len(series)} series over {len(x_labels)} points, from {x_labels[0]} to " + (
        f"{x_labels[-1]}"
    )
    table = Table(
        header=["", *[name for name, _ in series]],
        rows=[
            [label, *["—" if points[i] is None else y_format(points[i]) for _, points in series]]
            for i, label in enumerate(x_labels)
        ],
    )
    return _figure(
        title=title,
        description=description,
        width=WIDTH,
        height=height,
        body=_join(parts),
        table=table,
    )
