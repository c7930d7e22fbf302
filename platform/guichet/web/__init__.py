"""Shared web plumbing: templates, security headers, errors, logging, health."""
