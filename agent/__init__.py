"""agent package of mpac-edge."""

from sync.version import package_version


def __getattr__(name: str) -> str:
    """`agent.__version__` is the distribution's version (pyproject.toml is the one source of truth)."""
    if name == "__version__":
        return package_version()
    raise AttributeError(f"module 'agent' has no attribute {name!r}")
