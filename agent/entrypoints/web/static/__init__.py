"""Static files of the local web, served at /static/ (a package so the build ships them as package data)."""
