"""Tenant administration: the back-office of a tenant's administrators."""
