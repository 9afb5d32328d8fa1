"""Barcode/QR scanners: serial CR/LF line protocol; keyboard-wedge through evdev when that module exists."""
