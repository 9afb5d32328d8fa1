"""drivers package of mpac-edge."""
