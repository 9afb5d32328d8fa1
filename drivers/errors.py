"""The few exceptions every driver raises; library errors are translated into these at the I/O choke point."""

from __future__ import annotations


class DriverError(Exception):
    """A device could not do what was asked; `cashier_message` is safe to show at the counter."""

    cashier_message = "The device reported an error."
    # Card reader only: True when the reader had accepted the sale before the fault, so the card may have been
    # charged; the cashier must check the reader (or the acquirer) before taking the payment again.
    outcome_unknown = False


class DeviceTimeout(DriverError):
    """The device did not answer in time (switched off, busy, or a protocol step was lost)."""

    cashier_message = "The device did not answer: is it switched on?"


class DeviceDisconnected(DriverError):
    """The link to the device is gone (cable unplugged, port vanished, connection reset)."""

    cashier_message = "The device is not connected: check the cable."


class ProtocolError(DriverError):
    """The device sent bytes that break its protocol (garbage, bad checksum, endless NAK)."""

    cashier_message = "The device sent garbled data; it will be reset."
