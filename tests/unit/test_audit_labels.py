"""Every action the code writes to the audit log has a name the staff can read."""

import re
from pathlib import Path

from guichet.audit.labels import ACTION_LABELS, action_label, detail_text
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
    assert text == "montant : 8,53\u00a0€ ; mode : cheque ; champs : name, logo"
    assert action_label("citizen.login") == "Connexion"
    assert action_label("citizen.staff_verrouiller") == "Espace verrouillé par nos services"
    assert action_label("unknown.code") == "unknown.code"
