"""Every action the code writes to the audit log has a name the staff can read."""

import re
from pathlib import Path

from guichet.audit.labels import ACTION_LABELS, FIELD_LABELS, action_label, detail_text
from guichet.tenancy.models import TenantStatus

PLATFORM = Path(__file__).resolve().parents[2] / "platform" / "guichet"
LITERAL = re.compile(
    r"(?:staff_audit\(\s*ctx,\s*\w+,\s*|octx\.audit\(\s*\w+,\s*|action=)\"([a-z_]+\.[a-z_]+)\""
)
# the codes the code builds (f-strings), spelled out
BUILT = {
    "staff.enabled",
    "staff.disabled",
    "citizen.verrouiller",
    "citizen.deverrouiller",
    "citizen.activation",
    "procedure.changed",
    "procedure.field_saved",
    "procedure.document_added",
    "procedure.field_supprimer",
    "procedure.field_monter",
    "procedure.field_descendre",
    *(f"tenant.{status.value}" for status in TenantStatus),
}


def written_actions() -> set[str]:
    found = set()
    for path in PLATFORM.rglob("*.py"):
        found |= set(LITERAL.findall(path.read_text()))
    return found


def test_every_action_written_has_a_label():
    actions = written_actions()
    assert len(actions) > 40, sorted(actions)  # the scan finds them
    missing = sorted(a for a in actions | BUILT if a not in ACTION_LABELS)
    assert missing == [], missing


def test_the_built_codes_are_the_ones_the_code_builds():
    sources = "".join(p.read_text() for p in PLATFORM.rglob("*.py"))
    assert "f\"staff.{'enabled' if member.active else 'disabled'}\"" in sources
    assert 'f"citizen.{action}"' in sources and 'f"procedure.{action}"' in sources
    assert 'f"tenant.{wanted}"' in sources and 'f"field_{action}"' in sources


def test_details_read_as_words_not_json():
    text = detail_text({"amount_cents": 853, "method": "cheque", "fields": ["name", "logo"]})
    assert text == "montant : 8,53\u00a0€ ; mode : chèque ; champs : Nom, Logo"
    # a code this version does not know is shown as it is
    assert detail_text({"method": "troc", "fields": ["later_field"]}) == (
        "mode : troc ; champs : later_field"
    )
    assert action_label("citizen.login") == "Connexion"
    assert action_label("citizen.staff_verrouiller") == "Espace verrouillé par nos services"
    assert action_label("unknown.code") == "unknown.code"


TEMPLATES = PLATFORM.parents[1] / "themes" / "default" / "templates" / "admin"
FORM_LABELS = re.compile(r"\{% set labels = \{(.*?)\} %\}", re.S)
ENTRY = re.compile(r'"([a-z_]+)": _\("([^"]+)"\)')


def test_the_journal_names_fields_as_their_forms_do():
    """« champs : Titulaire, Adresse de courriel » with the labels the staff saw on the form,
    for every field of the forms whose changes the journal records."""
    compared = 0
    for page in ("settings.html", "branding.html", "service_account.html"):
        labels = dict(ENTRY.findall(FORM_LABELS.search((TEMPLATES / page).read_text()).group(1)))
        for name, label in labels.items():
            if name.startswith("password_"):  # under the form's « MOTS DE PASSE » heading
                assert FIELD_LABELS[name] == f"Mots de passe : {label.lower()}", name
            else:
                assert FIELD_LABELS.get(name) == label, (page, name)
            compared += 1
    assert compared >= 20
