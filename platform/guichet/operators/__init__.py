"""Platform operators: tenants, onboarding, health."""
