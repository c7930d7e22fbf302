"""Tenant staff: the agents, administrators and régisseurs who work in the back-office."""
