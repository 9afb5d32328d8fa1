"""The agent's one frozen, typed settings object: one TOML file laid over the packaged defaults."""

from __future__ import annotations

import reprlib
import tomllib
import zoneinfo
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from yarl import URL

from agent.domain.invoice import registration_number_problem
from sync.tls import CloudTrust, check_pins, plain_http_refusal

# Floats must be finite: `inf` hours would overflow the caps' milliseconds (docs/operations.md).
_STRICT = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
# Counts and amounts reach SQLite, whose integers are signed 64-bit.
SqlInt = Annotated[int, Field(le=2**63 - 1)]
# [cloud] keys whose values may be quoted back in an error message; any other key there may hold a secret.
_CLOUD_ECHOED = frozenset({"url", "device_id", "api_key", "timeout_s", "cpm_scan_timeout_s", "ca_file",
                           "pins"})


class _Echo(reprlib.Repr):
    """Short quotes of bad values: long strings and deep structures cut, huge integers described."""

    def __init__(self) -> None:
        super().__init__()
        self.maxstring, self.maxother, self.maxlevel = 60, 60, 3

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 128:  # repr() of a 4,300-digit integer raises ValueError in Python 3.11
            return f"<an integer of {x.bit_length()} bits>"
        return super().repr_int(x, level)


_ECHO = _Echo()


class SettingsError(ValueError):
    """The configuration cannot be used; the message names the file, the key and what is wrong."""


class AgentSection(BaseModel):
    """[agent]: where state lives and who this device is."""

    model_config = _STRICT
    state_dir: Path
    serial: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$")
    max_db_mb: int = Field(ge=0, le=(2**63 - 1) >> 20)  # bytes must fit SQLite's integers
    expiry_interval_s: float = Field(gt=0, le=86_400)

    @field_validator("state_dir")
    @classmethod
    def _no_nul(cls, value: Path) -> Path:
        if "\x00" in str(value):
            raise ValueError("a path cannot contain a NUL character")
        return value

    @property
    def db_path(self) -> Path:
        """The agent's SQLite database file."""
        return self.state_dir / "agent.sqlite3"


class WebSection(BaseModel):
    """[web]: the local HTTP server (docs/local-web.md)."""

    model_config = _STRICT
    host: str = Field(min_length=1, pattern=r"^[^\x00-\x20\x7f]+$")
    port: int = Field(ge=0, le=65535)
    # Extra Host header names the local web answers to (besides the bind address and localhost); see
    # agent.entrypoints.api.host_guard (DNS-rebinding defence).
    allowed_hosts: tuple[str, ...] = ()


class CloudSection(BaseModel):
    """[cloud]: the gateway and this device's credential (the secret normally comes from the secret store)."""

    model_config = _STRICT
    url: str = Field(pattern=r"^https?://[^\s/\x00-\x1f\x7f]+(/[^\x00-\x1f\x7f]*)?$")
    device_id: str
    api_key: str
    secret_key: SecretStr
    timeout_s: float = Field(gt=0, le=120)
    # QR CPM: how long the agent waits for the customer's code on the scanner before cancelling the intent.
    cpm_scan_timeout_s: float = Field(default=60.0, gt=0, le=600)
    # HTTPS verification (docs/sync-protocol.md, "Verifying the cloud"): a PEM CA bundle replacing the
    # system store, and SHA-256 SPKI pins (`sha256/<base64>`, at least two) checked after it.
    ca_file: Path | None = None
    pins: tuple[str, ...] = ()

    @field_validator("url")
    @classmethod
    def _https_unless_loopback(cls, value: str) -> str:
        if plain_http_refusal(URL(value)) is not None:
            raise ValueError("the cloud must be https:// (http:// only for a loopback cloud: 127.0.0.1, ::1, "
                             "localhost)")
        return value

    @field_validator("ca_file")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError("give an absolute path (the agent does not run in the directory of its config)")
        return value

    @field_validator("pins")
    @classmethod
    def _pins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_pins(value)


class OfflineSection(BaseModel):
    """[offline]: caps on stored, unsynced sales (docs/sync-protocol.md), in minor units."""

    model_config = _STRICT
    max_sale_amount: SqlInt = Field(gt=0)
    max_total_amount: SqlInt = Field(gt=0)
    max_count: SqlInt = Field(gt=0)
    # At least one second (a smaller float would round to 0 ms: every sale "too old"), at most ten years (the
    # age in ms stays a SQLite integer).
    max_age_hours: float = Field(ge=1 / 3600, le=87_600)

    @property
    def max_age_ms(self) -> int:
        """The max age as milliseconds (at least 1,000)."""
        return round(self.max_age_hours * 3_600_000)


class StoreSection(BaseModel):
    """[store]: the shop this terminal belongs to."""

    model_config = _STRICT
    name: str = Field(min_length=1, max_length=80)
    currencies: tuple[CurrencyCode, ...] = Field(min_length=1)
    timezone: str = Field(default="Asia/Tokyo", min_length=1, max_length=64)  # times on pages and receipts
    # The qualified invoice issuer (docs/receipts.md): "T" + 13 digits with its check digit; the issuer's name
    # defaults to the store's name. Without a number, receipts carry no issuer block.
    registration_number: str | None = None
    issuer_name: str | None = Field(default=None, min_length=1, max_length=80)

    @field_validator("registration_number")
    @classmethod
    def _registration_number(cls, value: str | None) -> str | None:
        problem = None if value is None else registration_number_problem(value)
        if problem is not None:
            raise ValueError(f"not a qualified invoice registration number: {problem}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a known IANA time zone (e.g. Asia/Tokyo)") from None
        return value


class Settings(BaseModel):
    """Everything the agent process is configured with; built once by `load_settings`."""

    model_config = _STRICT
    agent: AgentSection
    web: WebSection
    cloud: CloudSection
    offline: OfflineSection
    store: StoreSection
    devices: dict[str, Any] = Field(default_factory=dict)  # drivers' schema, passed through untouched


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Lay `over` on `base` key by key (tables merge; [devices] is replaced as a whole table)."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "devices":
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(err: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        got = "" if e["type"] == "missing" else f" (got {_ECHO.repr(e.get('input'))})"
        if loc[:1] == ["cloud"] and (len(loc) < 2 or loc[1] not in _CLOUD_ECHOED):
            got = ""  # never echo a secret, not even under a mistyped key such as `secret_kye`
        lines.append(f"  {'.'.join(loc)}: {e['msg']}{got}")
    return "\n".join(lines)


def default_table() -> dict[str, Any]:
    """The packaged defaults as a TOML table."""
    text = resources.files("agent").joinpath("defaults.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def load_settings(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Defaults, then the TOML file at `path`, then `overrides` (tests, bootstrap); raise SettingsError."""
    table = default_table()
    source = "the packaged defaults"
    if path is not None:
        source = str(path)
        try:
            with path.open("rb") as fh:
                table = _merge(table, tomllib.load(fh))
        except OSError as err:
            raise SettingsError(f"cannot read configuration file {path}: {err.strerror}") from err
        except UnicodeDecodeError as err:
            raise SettingsError(f"{path} is not valid TOML: not UTF-8 text (byte {err.start})") from err
        except tomllib.TOMLDecodeError as err:
            raise SettingsError(f"{path} is not valid TOML: {err}") from err
        except ValueError as err:  # tomllib's int() of a number past Python's 4,300-digit limit
            raise SettingsError(f"{path} is not valid TOML: a number is too long") from err
        except RecursionError as err:
            raise SettingsError(f"{path} is not valid TOML: arrays or tables nested too deeply") from err
    if overrides:
        table = _merge(table, overrides)
    try:
        return Settings.model_validate(table)
    except ValidationError as err:
        raise SettingsError(_describe(err, source)) from err


def cloud_trust(settings: Settings, *, ca_file: Path | None = None) -> CloudTrust:
    """How this agent verifies the cloud: `ca_file` (enroll --ca-file) or [cloud] ca_file; [cloud] pins."""
    return CloudTrust(ca_file or settings.cloud.ca_file, settings.cloud.pins)


SYSTEMD_CONFIG_NAME = "agent.toml"


def load_settings_under_systemd(path: Path | None, environ: Mapping[str, str]) -> Settings:
    """`load_settings` with the unit's directories taking part (the CLI passes its environment).

    With no file given, `$CONFIGURATION_DIRECTORY/agent.toml` is read when it exists; `$STATE_DIRECTORY`
    (its first entry) replaces `[agent] state_dir`, so the unit and the configuration can never disagree
    about where the database lives (docs/operations.md, "Under systemd")."""
    config_dir = environ.get("CONFIGURATION_DIRECTORY", "").split(":")[0]
    if path is None and config_dir and (Path(config_dir) / SYSTEMD_CONFIG_NAME).is_file():
        path = Path(config_dir) / SYSTEMD_CONFIG_NAME
    state_dir = environ.get("STATE_DIRECTORY", "").split(":")[0]
    return load_settings(path, {"agent": {"state_dir": state_dir}} if state_dir else None)
