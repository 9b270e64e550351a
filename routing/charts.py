"""The reliability diagram, drawn on the server as SVG (no script, no CDN): accuracy per
confidence bin against the diagonal of perfect calibration, each bin's 95 % Wilson interval as
a bar, the current and recommended thresholds as vertical lines. All text is numbers or fixed
words; the figure is followed by the same numbers as a data table."""

from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

SIZE = 360
PAD = 44
POINT = "#0072b2"
BAR = "#56b4e9"
CURRENT = "#d55e00"
RECOMMENDED = "#009e73"


def _f(value: float) -> str:
    return f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def reliability_diagram(
    bins: list[dict[str, Any]], *, threshold: float | None, recommended: float | None
) -> SafeString:
    span = SIZE - 2 * PAD

    def x(value: float) -> float:
        return PAD + value * span

    def y(value: float) -> float:
        return SIZE - PAD - value * span

    parts = [
        format_html(
            '<rect x="{p}" y="{p}" width="{s}" height="{s}" fill="none" stroke="#999"/>'
            '<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#999" '
            'stroke-dasharray="4 4"/>',
            p=PAD,
            s=span,
            x0=_f(x(0)),
            y0=_f(y(0)),
            x1=_f(x(1)),
            y1=_f(y(1)),
        )
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        parts.append(
            format_html(
                '<text x="{tx}" y="{ty}" text-anchor="middle" fill="#555">{t}</text>'
                '<text x="{lx}" y="{ly}" text-anchor="end" fill="#555">{t}</text>',
                tx=_f(x(tick)),
                ty=_f(SIZE - PAD + 16),
                lx=_f(PAD - 6),
                ly=_f(y(tick) + 4),
                t=f"{tick:g}",
            )
        )
    parts.append(
        format_html(
            '<text x="{cx}" y="{by}" text-anchor="middle">Confidence</text>'
            '<text x="12" y="{cy}" text-anchor="middle" transform="rotate(-90 12 {cy})">'
            "Accuracy</text>",
            cx=_f(SIZE / 2),
            by=_f(SIZE - 8),
            cy=_f(SIZE / 2),
        )
    )
    for value, colour, name in (
        (threshold, CURRENT, "current threshold"),
        (recommended, RECOMMENDED, "recommended threshold"),
    ):
        if value is not None:
            parts.append(
                format_html(
                    '<line x1="{x}" x2="{x}" y1="{y0}" y2="{y1}" stroke="{c}" stroke-width="2">'
                    "<title>{name} {v}</title></line>",
                    x=_f(x(value)),
                    y0=_f(y(0)),
                    y1=_f(y(1)),
                    c=colour,
                    name=name,
                    v=f"{value:.2f}",
                )
            )
    for b in bins:
        if not b["n"]:
            continue
        cx = x(b["mean_confidence"])
        parts.append(
            format_html(
                '<g class="bin"><title>{low}-{high}: accuracy {acc} '
                "(95 % {lo}-{hi}), n={n}</title>"
                '<line x1="{cx}" x2="{cx}" y1="{ylo}" y2="{yhi}" stroke="{bar}" '
                'stroke-width="6" stroke-linecap="round"/>'
                '<circle cx="{cx}" cy="{cy}" r="4.5" fill="{point}"/></g>',
                low=f"{b['low']:.1f}",
                high=f"{b['high']:.1f}",
                acc=_pct(b["accuracy"]),
                lo=_pct(b["ci_low"]),
                hi=_pct(b["ci_high"]),
                n=b["n"],
                cx=_f(cx),
                ylo=_f(y(b["ci_low"])),
                yhi=_f(y(b["ci_high"])),
                bar=BAR,
                cy=_f(y(b["accuracy"])),
                point=POINT,
            )
        )
    rows = format_html_join(
        "",
        "<tr><th scope='row'>{}-{}</th><td class='num'>{}</td><td class='num'>{}</td>"
        "<td class='num'>{}</td><td class='num'>{}</td></tr>",
        (
            (
                f"{b['low']:.1f}",
                f"{b['high']:.1f}",
                b["n"],
                "—" if b["mean_confidence"] is None else f"{b['mean_confidence']:.3f}",
                _pct(b["accuracy"]),
                "—" if b["ci_low"] is None else f"{_pct(b['ci_low'])}-{_pct(b['ci_high'])}",
            )
            for b in bins
        ),
    )
    return format_html(
        '<figure class="chart" data-testid="reliability"><figcaption>Reliability diagram: '
        "accuracy per confidence bin with 95 % Wilson intervals; the dashed diagonal is "
        "perfect calibration</figcaption>"
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {s} {s}" width="100%" '
        'role="img" aria-label="Reliability diagram" font-size="12" '
        'font-family="system-ui, sans-serif" class="reliability">{body}</svg>'
        '<details class="chart-data"><summary>Data table</summary>'
        '<table class="list compact"><thead><tr><th scope="col">Confidence</th>'
        '<th scope="col">n</th><th scope="col">Mean confidence</th><th scope="col">Accuracy'
        '</th><th scope="col">95 % interval</th></tr></thead><tbody>{rows}</tbody></table>'
        "</details></figure>",
        s=SIZE,
        body=mark_safe("".join(parts)),
        rows=rows,
    )
