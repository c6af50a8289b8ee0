"""Catalog tools for translators and editors: extraction, update, compile, coverage, checks."""
