"""Démarches: the procedures (request types) a tenant offers, defined as data.

This first part holds the procedures themselves, loaded from ``tenants/<slug>/tenant.toml``;
submitting, following and messaging come next (issue 6).
"""
