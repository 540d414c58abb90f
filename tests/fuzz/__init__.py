"""Invariant checks, input strategies and a command-line fuzz driver for the parser, the spell corrector, catalog
ingestion and the HTTP request models."""
