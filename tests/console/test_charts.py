"""Server-side SVG charts: escaped labels, accessible titles and data tables, empty states."""

from console import charts

EVIL = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'


def assert_inert(html: str) -> None:
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html


def test_bar_chart_escapes_labels_and_title_and_has_a_table():
    html = charts.bar_chart([charts.Bar(EVIL, 3, "30%", warn=True)], title=EVIL)

    assert_inert(html)
    assert 'role="img"' in html
    assert "<title id=" in html
    assert "<desc id=" in html
    assert "<table" in html
    assert 'class="bar warn"' in html


def test_stacked_and_line_and_column_charts_escape_their_labels():
    stacked = charts.stacked_bar_chart([(EVIL, [1, 2])], [EVIL, "b"], title="s")
    line = charts.line_chart(["x", EVIL], [(EVIL, [0.2, 0.4])], title="l")
    column = charts.column_chart([(EVIL, 2)], title="c")

    for html in (stacked, line, column):
        assert_inert(html)


def test_charts_without_data_show_their_empty_message():
    assert "Nothing here" in charts.bar_chart([], title="t", empty="Nothing here")
    assert "No days" in charts.column_chart([("d", 0)], title="t", empty="No days")
    assert "None" in charts.line_chart(["a"], [("f", [None])], title="t", empty="None")
    assert "Empty" in charts.stacked_bar_chart(
        [("k", [0, 0])], ["a", "b"], title="t", empty="Empty"
    )


def test_a_line_breaks_at_a_missing_value():
    html = charts.line_chart(["a", "b", "c", "d"], [("f", [0.1, 0.2, None, 0.4])], title="t")

    assert html.count("<polyline") == 1
    assert html.count("<circle") == 3


def test_bar_lengths_are_proportional_to_values():
    html = charts.bar_chart([charts.Bar("a", 1), charts.Bar("b", 4)], title="t")

    widths = [float(part.split('"')[0]) for part in html.split('width="')[2:4]]
    assert abs(widths[1] - 4 * widths[0]) < 0.5
