"""The audit log: who did what, when, from where, in which tenant."""
