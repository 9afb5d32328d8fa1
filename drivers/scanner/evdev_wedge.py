"""Keyboard-wedge scanners through Linux evdev — optional: only where the `evdev` module is importable."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import Any

from drivers.errors import DeviceDisconnected

# US layout: the keys a wedge scanner types for codes (digits, letters, common symbols).
_KEYS = {f"KEY_{c}": c.lower() for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"} | {f"KEY_{d}": d for d in "0123456789"}
_KEYS |= {"KEY_MINUS": "-", "KEY_DOT": ".", "KEY_SLASH": "/", "KEY_SPACE": " ", "KEY_EQUAL": "=",
          "KEY_SEMICOLON": ";", "KEY_COMMA": ","}
_SHIFTED = {"-": "_", "/": "?", ";": ":", "=": "+", "2": "@", "3": "#", "5": "%", "7": "&"}


def evdev_available() -> bool:
    """True if the optional evdev module can be imported here."""
    try:
        importlib.import_module("evdev")
    except ImportError:
        return False
    return True


class EvdevScanner:
    """Grabs one input device and turns its key presses into codes, one per Enter."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._device: Any = None

    async def codes(self) -> AsyncIterator[str]:
        """Codes as typed by the scanner; DeviceDisconnected when the device goes away."""
        evdev: Any = importlib.import_module("evdev")
        try:
            self._device = evdev.InputDevice(self.path)
            self._device.grab()  # the scanner's keys must not reach the cashier's focused field
            line, shift = "", False
            async for ev in self._device.async_read_loop():
                if ev.type != evdev.ecodes.EV_KEY:
                    continue
                name, value = evdev.ecodes.KEY.get(ev.code), ev.value
                if name in ("KEY_LEFTSHIFT", "KEY_RIGHTSHIFT"):
                    shift = value != 0
                elif value == 1 and name == "KEY_ENTER":
                    if line:
                        yield line
                    line = ""
                elif value == 1 and isinstance(name, str) and name in _KEYS:
                    ch = _KEYS[name]
                    line += (_SHIFTED.get(ch, ch.upper()) if shift else ch)[:1]
        except OSError as err:
            raise DeviceDisconnected(f"{self.path}: {err}") from err
        finally:
            if self._device is not None:
                self._device.close()
