"""The crawl's keyboard check (tools/a11y_report.py) finds what it is there to find: a control the
Tab key never reaches and one that shows no focus mark; a plain page gives nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from a11y_report import keyboard_check

pytestmark = pytest.mark.e2e

MARKED = "a:focus, button:focus { outline: 2px solid #000; }"


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ('<a href="#a">Un</a> <button>Deux</button> <input aria-label="Trois">', {}),
        (
            '<a href="#a">Un</a> <a href="#b" style="outline: none">Sans marque</a>',
            {"focus-not-visible": "Sans marque"},
        ),
        (
            '<a href="#a">Un</a> <div inert><a href="#b">Jamais atteint</a></div>',
            {"keyboard-unreachable": "Jamais atteint"},
        ),
    ],
)
def test_the_keyboard_check_finds_unreachable_and_unmarked_controls(browser, body, found):
    context = browser.new_context()
    page = context.new_page()
    page.set_content(
        f'<!doctype html><html lang="fr"><head><style>{MARKED} input:focus '
        f"{{ box-shadow: 0 0 0 2px #000; }}</style></head><body>{body}</body></html>"
    )
    findings = keyboard_check(page)
    context.close()
    assert {f["id"]: f["targets"][0] for f in findings}.keys() == found.keys(), findings
    for finding in findings:
        assert found[finding["id"]] in finding["targets"][0]
