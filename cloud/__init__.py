"""cloud package of mpac-edge."""
