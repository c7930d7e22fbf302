"""The public portal of a tenant: home, help, legal pages (guide §1 and §7)."""
