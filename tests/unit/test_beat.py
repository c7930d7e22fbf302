"""The beat's schedule names tasks the worker knows (a typo would only log at run time)."""

from __future__ import annotations


def test_every_scheduled_task_is_registered(monkeypatch, tmp_path):
    monkeypatch.setenv("GUICHET_VAR_DIR", str(tmp_path))  # the app makes its broker's folders
    from workers.celery_app import app

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "guichet.billing.sweep_print_parts" in scheduled
    assert scheduled <= set(app.tasks), scheduled - set(app.tasks)
