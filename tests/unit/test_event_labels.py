"""Every kind of event written in a citizen's history has its words in « Mon historique »: a
démarche sent showed « Action : request_sent » (a tester's walk). Found in the source, so that
a new kind is checked without anyone listing it here."""

import ast
from pathlib import Path

from guichet.accounts.space import EVENT_LABELS

PLATFORM = Path(__file__).resolve().parents[2] / "platform" / "guichet"


def recorded_kinds():
    """(file, kind) of every literal kind given to ``record(citizen, kind, …)`` or to
    ``_set_password(…, kind)``; an f-string's kind is its literal start (``staff_`` + the
    actions of admin/citizens.py are listed apart)."""
    for path in sorted(PLATFORM.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            if node.func.attr == "record" and len(node.args) >= 2:
                argument = node.args[1]
            elif node.func.attr == "_set_password" and len(node.args) >= 4:
                argument = node.args[3]
            else:
                continue
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                yield path.name, argument.value
            elif isinstance(argument, ast.JoinedStr) and isinstance(
                argument.values[0], ast.Constant
            ):
                yield path.name, str(argument.values[0].value)


def test_every_recorded_kind_has_a_label():
    kinds = list(recorded_kinds())
    assert ("controllers.py", "request_sent") in kinds  # the scan sees the démarches' kind
    assert len(kinds) > 20
    missing = []
    for where, kind in kinds:
        if kind.endswith(":") or kind.endswith("_"):  # details_changed:{name}, staff_{action}
            if not any(label.startswith(kind.rstrip(":")) for label in EVENT_LABELS):
                missing.append((where, kind))
        elif kind not in EVENT_LABELS:
            missing.append((where, kind))
    assert not missing, missing
