"""Test-side helpers that production code knows nothing about (fault injection, process wrappers)."""
