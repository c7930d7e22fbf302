"""Shared database plumbing: declarative base, engine and sessions, tenant-scoped repositories."""
