"""The catalog refuses a bad tenant file with the file, the field and the reason."""

import shutil
from pathlib import Path

import pytest

from guichet.tenancy.catalog import CatalogError, load_catalog
from guichet.tenancy.slugs import slug_problem
from tests.support.images import huge_png

ROOT = Path(__file__).resolve().parents[2]
THEMES = ROOT / "themes"


@pytest.fixture
def tenant_dir(tmp_path):
    folder = tmp_path / "ccas-castres"
    shutil.copytree(ROOT / "tenants" / "ccas-castres", folder)
    return folder


def edit(folder: Path, old: str, new: str) -> None:
    path = folder / "tenant.toml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_demo_tenants_load():
    for slug in ("ccas-castres", "mairie-valdoree"):
        catalog = load_catalog(ROOT / "tenants" / slug, THEMES)
        assert catalog.tenant["slug"] == slug
    castres = load_catalog(ROOT / "tenants" / "ccas-castres", THEMES)
    assert castres.tenant["contact_phone"] == "05 63 71 56 13"
    assert castres.tenant["contact_email"] == "espace.seniors@ville-castres.fr"
    assert castres.tenant["contact_hours"] == "Du lundi au vendredi : 8h-17h"
    assert castres.news[0].published_on.isoformat() == "2019-12-12"
    assert [s["name"] for s in castres.services] == ["Action sociale"]
    assert "PRÉAMBULE" in castres.terms[0].body


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ('primary = "#00607a"', 'primary = "#9ecae1"', "branding.primary", "4.5:1"),
        ('accent = "#b34700"', 'accent = "#ffb380"', "branding.on_accent", "4.5:1"),
        ('primary = "#00607a"', 'primary = "teal"', "branding.primary", "#rrggbb"),
        ('kind = "ccas"', 'kind = "prefecture"', "kind", "commune, ccas"),
        ('theme = "default"', 'theme = "nope"', "theme", "no theme"),
        (
            'email = "espace.seniors@ville-castres.fr"',
            'email = "nobody"',
            "contact.email",
            "not an email",
        ),
        ('phone = "05 63 71 56 13"', 'phone = "abc"', "contact.phone", "10 digits"),
        ('slug = "ccas-castres"', 'slug = "static"', "slug", "reserved"),
        ("min_length = 8", "min_length = 4", "password_policy.min_length", "from 8"),
        ('logo = "logo.svg"', 'logo = "../../etc/passwd"', "branding.logo", "inside"),
        ('status = "active"', 'status = "maintenance"', "maintenance_message", "required"),
        ("date = 2019-12-12", 'date = "hier"', "news[0].date", "a date"),
        ("[branding]", "colour = 1\n[branding]", "colour", "unknown field"),
    ],
)
def test_bad_field_is_reported_with_file_field_and_reason(tenant_dir, old, new, field, reason):
    edit(tenant_dir, old, new)
    with pytest.raises(CatalogError) as info:
        load_catalog(tenant_dir, THEMES)
    message = str(info.value)
    assert str(tenant_dir / "tenant.toml") in message
    assert any(f == field and reason in r for f, r in info.value.problems), message


def test_syntax_error_is_reported(tenant_dir):
    (tenant_dir / "tenant.toml").write_text("slug = \n")
    with pytest.raises(CatalogError, match="syntax"):
        load_catalog(tenant_dir, THEMES)


def test_svg_logo_with_script_is_refused(tenant_dir):
    (tenant_dir / "logo.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    )
    with pytest.raises(CatalogError, match="scripts"):
        load_catalog(tenant_dir, THEMES)


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"\x89PNG\r\n\x1a\n not an image", "cannot be read"), (None, "too many pixels")],
)
def test_a_raster_logo_must_be_readable_and_of_sensible_size(tenant_dir, content, reason):
    (tenant_dir / "logo.png").write_bytes(content or huge_png(30000, 30000))
    edit(tenant_dir, 'logo = "logo.svg"', 'logo = "logo.png"')
    with pytest.raises(CatalogError) as info:
        load_catalog(tenant_dir, THEMES)
    assert any(f == "branding.logo" and reason in r for f, r in info.value.problems)


@pytest.mark.parametrize("slug", ["ccas-castres", "a", "mairie-albi-2"])
def test_good_slugs(slug):
    assert slug_problem(slug) is None


@pytest.mark.parametrize(
    "slug", ["", "CCAS", "-a", "a-", "a--b", "a_b", "é", "operator", "api", "static", "x" * 64]
)
def test_bad_slugs(slug):
    assert slug_problem(slug) is not None


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ('backend = "paybox"', "a bank backend needs its options from the environment"),
        ('backend = "paybox"\noptions_env = "lower-case"', "the name of an environment variable"),
    ],
)
def test_a_bank_ledger_names_the_variable_holding_its_options(tenant_dir, new, message):
    edit(tenant_dir, 'backend = "sandbox"', new)
    with pytest.raises(CatalogError) as error:
        load_catalog(tenant_dir, THEMES)
    assert "ledgers[0].options_env" in str(error.value) and message in str(error.value)


def test_the_demo_procedures_load():
    castres = load_catalog(ROOT / "tenants" / "ccas-castres", THEMES)
    by_code = {p["code"]: p for p in castres.procedures}
    assert set(by_code) == {"portage-repas", "aide-facultative", "registre-canicule"}
    portage = by_code["portage-repas"]
    assert portage["title"] == "Demande de portage de repas à domicile"
    assert {f["kind"] for f in portage["fields"]} >= {"text", "date", "address", "checkboxes"}
    assert by_code["registre-canicule"]["account_required"] is False
    assert by_code["registre-canicule"]["statuses"] == [
        "transmise",
        "en_cours",
        "acceptee",
        "cloturee",
    ]


PROCEDURE = """
[[procedures]]
code = "essai"
title = "Essai"
"""


@pytest.mark.parametrize(
    ("addition", "field", "reason"),
    [
        (
            '\n[[procedures.fields]]\nkey = "a"\nlabel = "A"\nkind = "colour"\n',
            "fields[0].kind",
            "one of text",
        ),
        (
            '\n[[procedures.fields]]\nkey = "a"\nlabel = "A"\nkind = "choice"\nchoices = ["x"]\n',
            "fields[0].choices",
            "at least two different texts",
        ),
        (
            '\n[[procedures.fields]]\nkey = "a"\nlabel = "A"\nkind = "text"\n'
            'choices = ["x", "y"]\n',
            "fields[0].choices",
            "only for the kinds choice and checkboxes",
        ),
        (
            '\n[[procedures.fields]]\nkey = "a"\nlabel = "A"\nkind = "text"\n'
            '\n[[procedures.fields]]\nkey = "a"\nlabel = "B"\nkind = "text"\n',
            "fields[1].key",
            "a is used twice",
        ),
        (
            '\n[[procedures.fields]]\nkey = "a"\nlabel = "A"\nkind = "text"\nprefill = "salary"\n',
            "fields[0].prefill",
            "one of",
        ),
        (
            '\n[[procedures.fields]]\nkey = "A b"\nlabel = "A"\nkind = "text"\n',
            "fields[0].key",
            "lowercase",
        ),
        ('statuses = ["brouillon", "acceptee"]\n', "statuses", "with transmise"),
        ("processing_days = -1\n", "processing_days", "from 0 to 365"),
    ],
)
def test_a_bad_procedure_is_refused_with_field_and_reason(tenant_dir, addition, field, reason):
    path = tenant_dir / "tenant.toml"
    head, sep, _ = path.read_text().partition("[[procedures]]")
    assert sep  # the demo file has procedures; replace them by one under test
    text = head + PROCEDURE
    if addition.startswith("\n[[procedures.fields]]"):
        text += addition
    else:
        text = text.replace('title = "Essai"\n', 'title = "Essai"\n' + addition)
    path.write_text(text)
    with pytest.raises(CatalogError) as error:
        load_catalog(tenant_dir, THEMES)
    assert f"procedures[0].{field}" in str(error.value) and reason in str(error.value)


def test_two_procedures_with_one_code_are_refused(tenant_dir):
    path = tenant_dir / "tenant.toml"
    path.write_text(path.read_text() + PROCEDURE + PROCEDURE)
    with pytest.raises(CatalogError, match="two procedures have the same code"):
        load_catalog(tenant_dir, THEMES)


@pytest.mark.parametrize(
    ("addition", "field", "reason"),
    [
        (
            '\n[[procedures.fields]]\nkey = "a"\nlabel = "A"\nkind = "text"\nprefill = ["email"]\n',
            "fields[0].prefill",
            "one of",
        ),
        (
            '\n[[procedures.fields]]\nkey = "a"\nlabel = "A"\nkind = "checkboxes"\n'
            'choices = ["x", "y"]\nprefill = "address"\n',
            "fields[0].prefill",
            "a checkboxes field can take nothing",
        ),
        (
            '\n[[procedures.fields]]\nkey = "a"\nlabel = "A"\nkind = "choice"\n'
            'choices = ["a", " a"]\n',
            "fields[0].choices",
            "at least two different texts",
        ),
        (
            '\n[[procedures.fields]]\nkey = "a"\nlabel = "A"\nkind = "text"\nrequired = "false"\n',
            "fields[0].required",
            "true or false",
        ),
        ('active = "false"\n', "active", "true or false"),
        ('description = ["x"]\n', "description", "a text"),
    ],
)
def test_a_strange_procedure_value_is_refused_not_misread(tenant_dir, addition, field, reason):
    test_a_bad_procedure_is_refused_with_field_and_reason(tenant_dir, addition, field, reason)


def test_a_procedure_title_and_code_are_checked_before_the_database(tenant_dir):
    path = tenant_dir / "tenant.toml"
    head = path.read_text().partition("[[procedures]]")[0]
    path.write_text(head + PROCEDURE.replace('title = "Essai"', 'title = "' + "T" * 201 + '"'))
    with pytest.raises(CatalogError, match="200 characters at most"):
        load_catalog(tenant_dir, THEMES)
    path.write_text(head + PROCEDURE.replace('code = "essai"', 'code = "essai\\n"'))
    with pytest.raises(CatalogError, match=r"procedures\[0\]\.code"):
        load_catalog(tenant_dir, THEMES)


def test_number_limits_belong_to_number_fields(tenant_dir):
    castres = load_catalog(ROOT / "tenants" / "ccas-castres", THEMES)
    aide = next(p for p in castres.procedures if p["code"] == "aide-facultative")
    foyer = next(f for f in aide["fields"] if f["key"] == "personnes_foyer")
    assert (foyer["integer"], foyer["min"], foyer["max"]) == (True, 1, 20)
    for addition, reason in [
        ('kind = "text"\nmin = 1\n', "min, max and integer are for number fields"),
        ('kind = "number"\nmin = 5\nmax = 1\n', "at least min"),
        ('kind = "number"\nmin = "1"\n', "a number"),
    ]:
        path = tenant_dir / "tenant.toml"
        head = path.read_text().partition("[[procedures]]")[0]
        path.write_text(
            head + PROCEDURE + '\n[[procedures.fields]]\nkey = "a"\nlabel = "A"\n' + addition
        )
        with pytest.raises(CatalogError, match=reason):
            load_catalog(tenant_dir, THEMES)


def test_a_procedure_cannot_take_the_code_of_the_tracking_page(tenant_dir):
    path = tenant_dir / "tenant.toml"
    path.write_text(path.read_text() + PROCEDURE.replace('code = "essai"', 'code = "suivi"'))
    with pytest.raises(CatalogError, match="is a page of /demarches/"):
        load_catalog(tenant_dir, THEMES)
