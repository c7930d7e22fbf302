"""Every problem the invoice import reports in English (the API, the command line) has its
French words for the agents' page (Facturation › Importer des factures): a message added
without them would show in English to a CCAS agent."""

import ast
import inspect

from guichet.accounts.models import postal_address_problem
from guichet.billing import imports


def reported_messages() -> set[str]:
    """The messages of imports.py's ``fail(field, message)`` calls and ``"message": …`` entries
    whose text is known from the source (constants, f-strings of module constants)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(inspect.getsource(imports))):
        candidates: list[ast.expr] = []
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "fail":
            candidates.append(node.args[1])
        if isinstance(node, ast.Dict):
            candidates += [
                value
                for key, value in zip(node.keys, node.values, strict=True)
                if isinstance(key, ast.Constant) and key.value == "message"
            ]
        for candidate in candidates:
            try:
                value = eval(compile(ast.Expression(candidate), "<message>", "eval"), vars(imports))
            except NameError:  # a variable: the parsing problems, said apart by the page
                continue
            found.add(value)
    return found


def test_every_reported_problem_has_its_french_words():
    messages = reported_messages() | {postal_address_problem("ligne\n" * 9)}
    assert len(messages) >= 15, messages  # the scan found them (it cannot pass on nothing)
    missing = messages - set(imports.FRENCH_MESSAGES)
    assert not missing, missing


def test_a_line_s_problem_is_on_its_own_row_of_the_file():
    rows = [4, 5, 9]
    assert imports.csv_position(rows, "lines[2].quantity") == (5, "quantity")
    assert imports.csv_position(rows, "lines[3].label") == (9, "line_label")
    assert imports.csv_position(rows, "due_date") == (4, "due_date")
    assert imports.csv_position([], "invoices") == (None, "invoices")
    assert imports.french_problem("quantity", "a whole number from 1 to 10000") == (
        "quantité : un nombre entier de 1 à 10 000"
    )


def test_the_billed_month_is_taken_as_an_agent_types_it():
    """Only 2026-10 was taken, while every other date of the page is 31/10/2026, and
    « novembre 2026 » came back cut to « novembr » (a tester's walk)."""
    from guichet.admin.billing import _month

    assert _month("2026-10") == _month("10/2026") == _month(" octobre  2026 ") == "2026-10"
    assert _month("1/2027") == _month("Janvier 2027") == "2027-01"
    assert _month("Décembre 2026") == _month("decembre 2026") == "2026-12"
    for wrong in ("13/2026", "11/26", "2026-13", "brumaire 2026", ""):
        assert _month(wrong) == wrong.strip()  # kept as typed, said wrong beside the field
