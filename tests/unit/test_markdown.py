from guichet.web.markdown import render_markdown


def test_markdown_renders_lists_and_emphasis():
    html = render_markdown("- **Payer** en ligne\n- Récupérer vos factures")
    assert "<li><strong>Payer</strong> en ligne</li>" in html


def test_scripts_and_handlers_are_removed():
    html = str(
        render_markdown(
            '<script>alert(1)</script><img src=x onerror="alert(2)">[x](javascript:alert(3))'
        )
    )
    assert "<script" not in html and "onerror" not in html and "javascript:" not in html


def test_links_get_noopener():
    assert 'rel="noopener noreferrer"' in render_markdown("[site](https://example.org)")


def test_heading_shift():
    assert "<h3>" in render_markdown("## Titre", shift_headings=1)
