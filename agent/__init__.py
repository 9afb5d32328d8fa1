"""agent package of mpac-edge."""

__version__ = "0.1.0"
