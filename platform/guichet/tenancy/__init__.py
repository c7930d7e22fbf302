"""Tenants (communes and CCAS), their terms of use, news, pages and services."""
