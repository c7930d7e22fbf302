import pytest

from guichet.settings import (
    DEFAULT_SECRET_KEY,
    ConfigurationError,
    Settings,
    settings_documentation,
)

GOOD_PRODUCTION = {
    "GUICHET_MODE": "production",
    "GUICHET_SECRET_KEY": "x" * 48,
    "GUICHET_DATABASE_URL": "postgresql+asyncpg://guichet@db/guichet",
    "GUICHET_REDIS_URL": "redis://redis:6379/0",
    "GUICHET_BROKER_URL": "redis://redis:6379/1",
    "GUICHET_SMTP_HOST": "smtp.example.org",
}


def test_embedded_default_needs_no_server(tmp_path):
    settings = Settings.from_env({"GUICHET_VAR_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'guichet.db'}"
    assert settings.broker_url == "filesystem://"
    assert settings.store.redis_url == ""
    assert settings.outbox_dir == tmp_path / "outbox"
    assert settings.files_dir == tmp_path / "files"


def test_variables_are_read_and_typed():
    settings = Settings.from_env(
        {
            "GUICHET_DATABASE_POOL_SIZE": "3",
            "GUICHET_DATABASE_ECHO": "yes",
            "GUICHET_SMTP_PORT": "2525",
        }
    )
    assert settings.database.pool_size == 3
    assert settings.database.echo is True
    assert settings.email.smtp_port == 2525


@pytest.mark.parametrize("raw", ["maybe", "2"])
def test_bad_boolean_names_the_variable(raw):
    with pytest.raises(ConfigurationError, match="GUICHET_DATABASE_ECHO"):
        Settings.from_env({"GUICHET_DATABASE_ECHO": raw})


def test_bad_number_names_the_variable():
    with pytest.raises(ConfigurationError, match="GUICHET_SMTP_PORT"):
        Settings.from_env({"GUICHET_SMTP_PORT": "twenty"})


def test_production_accepts_a_complete_configuration():
    settings = Settings.from_env(GOOD_PRODUCTION)
    assert settings.is_production


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("GUICHET_SECRET_KEY", DEFAULT_SECRET_KEY, "GUICHET_SECRET_KEY"),
        ("GUICHET_SECRET_KEY", "short", "32 characters"),
        ("GUICHET_DATABASE_URL", "", "PostgreSQL"),
        ("GUICHET_DATABASE_URL", "sqlite+aiosqlite:///x.db", "PostgreSQL"),
        ("GUICHET_REDIS_URL", "", "GUICHET_REDIS_URL"),
        ("GUICHET_BROKER_URL", "filesystem://", "GUICHET_BROKER_URL"),
        ("GUICHET_SMTP_HOST", "", "GUICHET_SMTP_HOST"),
        ("GUICHET_CAPTCHA_TEST_MODE", "true", "automated tests only"),
    ],
)
def test_production_refuses_insecure_or_embedded_settings(variable, value, reason):
    env = dict(GOOD_PRODUCTION, **{variable: value})
    with pytest.raises(ConfigurationError, match="refuses to start") as info:
        Settings.from_env(env)
    assert reason in str(info.value)


def test_every_variable_is_documented():
    doc = settings_documentation()
    for name in (
        "GUICHET_DATABASE_URL",
        "GUICHET_REDIS_URL",
        "GUICHET_BROKER_URL",
        "GUICHET_SECRET_KEY",
        "GUICHET_SMTP_HOST",
        "GUICHET_FILES_BACKEND",
    ):
        assert f"`{name}`" in doc


def test_configuration_doc_is_current():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    assert settings_documentation() in doc, "run: guichet settings-doc, and paste into docs"


def test_paybox_allowlist_takes_addresses_and_networks_and_names_a_bad_entry():
    settings = Settings.from_env({"GUICHET_PAYBOX_ALLOWED_IPS": "194.2.122.158, 195.25.7.0/24"})
    assert [str(n) for n in settings.web.paybox_networks()] == [
        "194.2.122.158/32",
        "195.25.7.0/24",
    ]
    with pytest.raises(ConfigurationError, match=r"GUICHET_PAYBOX_ALLOWED_IPS: 'paybox\.com'"):
        Settings.from_env({"GUICHET_PAYBOX_ALLOWED_IPS": "194.2.122.158, paybox.com"})
