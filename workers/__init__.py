"""Celery workers: thin tasks that load ids, open a session and call a guichet service."""
