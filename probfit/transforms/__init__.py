"""Bijectors between unconstrained and constrained parameter spaces."""
