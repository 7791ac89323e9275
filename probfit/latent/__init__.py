"""Discrete latent variables: enumeration, EM fits and their results."""
