"""Jinja2 templates of the local web (a package so the build ships them as package data)."""
