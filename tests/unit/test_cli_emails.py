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
        [
            "tenants",
            "create",
            "t-x",
            "T",
            "--kind",
            "ccas",
            "--admin-email",
            "notanemail",
            "--admin-name",
            "X",
        ],
    ],
)
def test_a_malformed_address_is_refused_before_anything_is_made(arguments, tmp_path):
    result = CliRunner().invoke(
        main, arguments, env={"GUICHET_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    )
    assert result.exit_code == 2, result.output
    assert "is not an email address" in result.output
    assert not (tmp_path / "none.db").exists()  # refused before the database is opened


def test_a_tenant_is_not_created_without_saying_ccas_or_commune(tmp_path):
    """The kind decides the portal's words (« le CCAS de … », « la Mairie »): an operator who
    forgot it used to get a CCAS."""
    result = CliRunner().invoke(
        main,
        [
            "tenants",
            "create",
            "mairie-x",
            "Mairie de X",
            "--admin-email",
            "dgs@x.fr",
            "--admin-name",
            "Anne",
        ],
        env={"GUICHET_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"},
    )
    assert result.exit_code == 2, result.output
    assert "--kind" in result.output
    assert not (tmp_path / "none.db").exists()
