"""The `guichet` command line."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cli_rejects_a_bad_file_with_file_field_and_reason(tmp_path):
    folder = tmp_path / "ccas-castres"
    shutil.copytree(ROOT / "tenants" / "ccas-castres", folder)
    path = folder / "tenant.toml"
    path.write_text(path.read_text().replace('on_accent = "#ffffff"', 'on_accent = "#ff9966"'))
    result = subprocess.run(
        [sys.executable, "-m", "guichet.cli", "tenants", "apply", str(folder)],
        capture_output=True,
        text=True,
        env={"GUICHET_VAR_DIR": str(tmp_path / "var"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert f"{path}: branding.on_accent:" in result.stderr
    assert "4.5:1" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_refuses_production_with_defaults_and_says_why(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "guichet.cli", "migrate"],
        capture_output=True,
        text=True,
        env={
            "GUICHET_MODE": "production",
            "GUICHET_VAR_DIR": str(tmp_path),
            "PATH": "/usr/bin:/bin",
        },
    )
    assert result.returncode == 1
    assert "refuses to start in production mode" in result.stderr
    assert "GUICHET_SECRET_KEY" in result.stderr and "Traceback" not in result.stderr
