from core.markdown import render_markdown


def test_markdown_renders_headings_emphasis_lists_and_code():
    html = render_markdown("# Rules\n\n*Be* **kind**.\n\n- one\n\n```\nx < y\n```")
    assert "<h1>Rules</h1>" in html
    assert "<em>Be</em> <strong>kind</strong>" in html
    assert "<li>one</li>" in html
    assert "<pre><code>x &lt; y\n</code></pre>" in html


def test_raw_html_in_markdown_is_shown_as_text():
    html = render_markdown('<script>alert(1)</script>\n\n<img src=x onerror="alert(1)">')
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_links_keep_safe_schemes_only_and_open_without_referrer():
    html = render_markdown("[a](https://example.org) [b](javascript:alert(1)) [c](mailto:x@y.z)")
    assert '<a href="https://example.org" rel="noopener noreferrer">a</a>' in html
    assert '<a href="mailto:x@y.z" rel="noopener noreferrer">c</a>' in html
    assert "javascript:" not in html.replace("[b](javascript:alert(1))", "")
    assert 'href="javascript' not in html


def test_images_and_attributes_outside_the_list_are_dropped():
    html = render_markdown('![pixel](https://tracker.example/p.gif)\n\n[x](https://e.org "title")')
    assert "<img" not in html
    assert "title=" not in html


def test_tables_are_kept():
    html = render_markdown("| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<table>" in html
    assert "<td>1</td>" in html


def test_empty_guidelines_render_empty():
    assert render_markdown("") == ""


def test_a_word_diff_keeps_both_texts_and_marks_the_changed_words():
    from core.textdiff import word_diff

    parts = word_diff("The cat sat on the mat.", "The cat lay on a mat.")
    assert "".join(p["text"] for p in parts if p["op"] != "insert") == "The cat sat on the mat."
    assert "".join(p["text"] for p in parts if p["op"] != "delete") == "The cat lay on a mat."
    assert {"op": "delete", "text": "sat"} in parts and {"op": "insert", "text": "lay"} in parts
