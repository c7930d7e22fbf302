"""The command line takes only email addresses the web forms would take: `operators create
not-an-email` made an operator, and `tenants create --admin-email notanemail` invited
"notanemail" and showed it as the tenant's contact (found by a tester onboarding a tenant)."""

import pytest
from click.testing import CliRunner

from guichet.cli import main


@pytest.mark.parametrize(
    "arguments",
    [
        ["operators", "create", "not-an-email", "Op", "--password", "Motdepasse-2026-long"],
        ["staff", "create", "ccas-castres", "agent@", "Ag", "--password", "Motdepasse-2026"],
        ["tenants", "create", "t-x", "T", "--admin-email", "notanemail", "--admin-name", "X"],
    ],
)
def test_a_malformed_address_is_refused_before_anything_is_made(arguments, tmp_path):
    result = CliRunner().invoke(
        main, arguments, env={"GUICHET_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    )
    assert result.exit_code == 2, result.output
    assert "is not an email address" in result.output
    assert not (tmp_path / "none.db").exists()  # refused before the database is opened
