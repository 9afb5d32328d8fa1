"""Device simulators speaking the real bytes on the far end of a pseudo-terminal (or TCP for the printer).

Test doubles shipped in the package: tests and `mpac-agent demo` use them. All run on the caller's loop.
"""
