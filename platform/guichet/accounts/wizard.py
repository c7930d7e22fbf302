"""The five steps of "Création d'un espace personnel" (guide §2), kept server-side.

The wizard's state lives in the server-side session: what was typed at each step, the furthest
step reached, and when it started. Refresh, back and forward never lose it; an abandoned wizard
expires after three hours.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from guichet.i18n import N_
from guichet.i18n import gettext as _

__all__ = ["STEPS", "WIZARD_TTL", "Step", "Wizard"]

WIZARD_TTL = 3 * 3600  # without any step posted for this long, the wizard starts over


@dataclass(frozen=True)
class Step:
    slug: str
    label: str  # French msgid, translated where shown

    @property
    def title(self) -> str:
        return _(self.label)


STEPS = (
    Step("cgu", N_("CGU")),
    Step("identite", N_("Identité")),
    Step("adresse", N_("Adresse")),
    Step("contact", N_("Moyens de contact")),
    Step("authentification", N_("Authentification")),
)
STEP_SLUGS = [s.slug for s in STEPS]


class Wizard:
    """A view over ``session.data["wizard"]``."""

    def __init__(self, data: dict[str, Any] | None) -> None:
        self.data = data

    @classmethod
    def start(cls) -> dict[str, Any]:
        now = time.time()
        return {"started": now, "touched": now, "reached": 0, "values": {}}

    @property
    def active(self) -> bool:
        if not self.data:
            return False
        return time.time() - self.data.get("touched", self.data["started"]) < WIZARD_TTL

    @property
    def values(self) -> dict[str, Any]:
        return self.data["values"] if self.data else {}

    @property
    def reached(self) -> int:
        return int(self.data["reached"]) if self.data else 0

    def index(self, slug: str) -> int:
        return STEP_SLUGS.index(slug)

    def allowed(self, slug: str) -> bool:
        return slug in STEP_SLUGS and self.index(slug) <= self.reached

    def keep(self, values: dict[str, Any]) -> None:
        self.values.update(values)
        if self.data is not None:
            self.data["touched"] = time.time()

    def advance_past(self, slug: str) -> str | None:
        """Mark ``slug`` done; the next step's slug, or None after the last."""
        position = self.index(slug)
        if self.data is not None:
            self.data["reached"] = max(self.reached, position + 1)
        return STEP_SLUGS[position + 1] if position + 1 < len(STEP_SLUGS) else None

    @staticmethod
    def previous(slug: str) -> str | None:
        position = STEP_SLUGS.index(slug)
        return STEP_SLUGS[position - 1] if position > 0 else None
