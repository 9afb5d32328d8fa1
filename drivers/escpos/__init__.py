"""ESC/POS: a pure encoder (bytes out), the receipt builder and the printer status decoder."""
