"""Diagnostics computed from a fit and data."""
