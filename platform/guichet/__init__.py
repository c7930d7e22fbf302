"""Guichet: a multi-tenant citizen portal for communes and their CCAS."""

__all__ = ["__version__"]

__version__ = "0.1.0"
