"""The forms' maxlength is the limit the server reads each field with, wherever it reads it."""

import re
from pathlib import Path

from guichet.web.field_limits import FIELD_LIMITS

PLATFORM = Path(__file__).resolve().parents[2] / "platform" / "guichet"
READ = re.compile(r"(?:_get|_text|get)\(\s*\w*,?\s*\"([a-z_]+)\",\s*([0-9_]+)\s*\)")
TABLE = re.compile(r"^\s*\"([a-z_]+)\": ([0-9_]+),", re.MULTILINE)


def server_limits() -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for path in PLATFORM.rglob("*.py"):
        if path.name == "field_limits.py":
            continue
        text = path.read_text()
        for name, limit in READ.findall(text):
            found.setdefault(name, set()).add(int(limit.replace("_", "")))
        if "CONTACT_FIELDS = {" in text:  # the settings' contact block, read in a loop
            block = text.split("CONTACT_FIELDS = {")[1].split("}")[0]
            for name, limit in TABLE.findall(block):
                found.setdefault(name, set()).add(int(limit.replace("_", "")))
    return found


def test_each_limit_is_the_servers_and_the_same_everywhere():
    found = server_limits()
    for name, limit in FIELD_LIMITS.items():
        assert name in found, f"{name}: the server reads it nowhere with a limit"
        assert found[name] == {limit}, (name, limit, found[name])


def test_the_macro_sets_it_on_the_field():
    from guichet.web.templates import TemplateRenderer

    renderer = TemplateRenderer(Path(__file__).resolve().parents[2] / "themes")
    html = (
        renderer.environment("default")
        .from_string(
            '{% import "partials/forms.html" as f %}'
            '{{ f.input("last_name", "Nom", {}, {}) }}{{ f.input("autre", "Autre", {}, {}) }}'
            '{{ f.input("email", "Courriel", {}, {}, type="password") }}'
        )
        .render()
    )
    assert 'name="last_name" type="text" value="" maxlength="100"' in html
    assert html.count("maxlength") == 1  # neither an unknown field nor a password
