"""Schema of the agent's [devices] TOML table (pydantic v2), validated once at start with a clear message.

```toml
[devices]
reopen_max_s = 5.0                       # hot-plug: reopen backoff doubles from 0.2 s up to this
[devices.printer]
transport = "serial"                     # "serial" | "tcp" | "usblp"
path = "/dev/serial/by-id/usb-EPSON_TM-T88V-if00-port0"   # serial / usblp
baudrate = 19200                         # serial
# host = "192.168.1.50"; port = 9100     # tcp
columns = 42                             # characters per line, font A (42 on 80 mm, 32 on 58 mm)
status = true                            # DLE EOT paper/cover status; default on (serial, tcp), off (usblp)
hold_after_s = 300                       # a job older than this when the printer returns is held
debounce_s = 5                           # a disconnect shorter than this is not reported
kick_drawer_on_cash = true
[devices.scanner]
transport = "serial"                     # "serial" | "evdev" (evdev only where the module is installed)
path = "/dev/serial/by-id/usb-Honeywell_Scanner-if00"
baudrate = 9600
[devices.card_reader]
transport = "serial"
path = "/dev/serial/by-id/usb-Reader-if00"
baudrate = 19200
ack_timeout_s = 0.5
retries = 3
result_timeout_s = 60
cancel_grace_s = 3
ping_s = 10                              # ping an idle reader this often (and while its health is in doubt)
```
Every device is optional; an empty table means no devices (the sale flow then runs without them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

_STRICT = ConfigDict(extra="forbid", frozen=True)
Seconds = Annotated[float, Field(gt=0, le=3600)]
Baud = Annotated[int, Field(ge=1200, le=921600)]
DevicePath = Annotated[str, Field(min_length=1, max_length=255)]


class DevicesConfigError(ValueError):
    """The [devices] table is invalid; the message names each bad key."""


class PrinterConfig(BaseModel):
    """A receipt printer."""

    model_config = _STRICT
    transport: Literal["serial", "tcp", "usblp"]
    path: DevicePath | None = None
    baudrate: Baud = 19200
    host: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    port: Annotated[int, Field(ge=1, le=65535)] = 9100
    columns: Annotated[int, Field(ge=24, le=64)] = 42
    status: bool | None = None  # DLE EOT queries; default: yes on serial/tcp, no on usblp (often one-way)
    hold_after_s: Seconds = 300.0
    debounce_s: Annotated[float, Field(ge=0, le=600)] = 5.0
    status_poll_s: Seconds = 2.0
    kick_drawer_on_cash: bool = True

    @model_validator(mode="after")
    def _link(self) -> PrinterConfig:
        if self.transport == "tcp" and not self.host:
            raise ValueError("a tcp printer needs host")
        if self.transport != "tcp" and not self.path:
            raise ValueError(f"a {self.transport} printer needs path")
        return self

    @property
    def query_status(self) -> bool:
        """Whether to ask the printer for paper/cover status."""
        return self.status if self.status is not None else self.transport != "usblp"


class ScannerConfig(BaseModel):
    """A barcode/QR scanner."""

    model_config = _STRICT
    transport: Literal["serial", "evdev"]
    path: DevicePath
    baudrate: Baud = 9600


class CardReaderConfig(BaseModel):
    """A card reader speaking the protocol of docs/card-reader-protocol.md."""

    model_config = _STRICT
    transport: Literal["serial"] = "serial"
    path: DevicePath
    baudrate: Baud = 19200
    ack_timeout_s: Seconds = 0.5
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    result_timeout_s: Seconds = 60.0
    cancel_grace_s: Seconds = 3.0
    ping_s: Seconds = 10.0


class DevicesConfig(BaseModel):
    """The whole [devices] table."""

    model_config = _STRICT
    reopen_max_s: Seconds = 5.0
    printer: PrinterConfig | None = None
    scanner: ScannerConfig | None = None
    card_reader: CardReaderConfig | None = None


def parse_devices_config(raw: Mapping[str, Any]) -> DevicesConfig:
    """Validate the raw table; DevicesConfigError lists every problem as 'devices.<key>: <reason>'."""
    try:
        return DevicesConfig.model_validate(dict(raw))
    except ValidationError as err:
        problems = "; ".join(
            f"devices.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}".replace("devices.: ", "devices: ")
            for e in err.errors()
        )
        raise DevicesConfigError(f"invalid [devices] configuration: {problems}") from None
