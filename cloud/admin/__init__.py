"""`mpac-pgw admin …` subcommands: one decorated async function each (see registry.py)."""
