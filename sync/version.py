"""The version of the mpac-edge distribution: one source of truth (pyproject.toml), read from its metadata."""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "mpac-edge"


def package_version() -> str:
    """The installed mpac-edge version, or "0+unknown" when it runs from a tree that was never installed."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"
