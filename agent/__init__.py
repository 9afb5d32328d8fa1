"""agent package of mpac-edge."""
