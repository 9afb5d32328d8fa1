"""How the agent side verifies the cloud (docs/sync-protocol.md, "Verifying the cloud").

`CloudTrust` holds what the agent trusts: the system CA store, or `[cloud] ca_file` (a PEM bundle that then
replaces the system store), and optional `[cloud] pins` — SHA-256 hashes of the SubjectPublicKeyInfo of the
cloud's certificate, checked after the normal verification (chain, validity, host name) succeeded. It builds
the one `ssl.SSLContext` of `sync.http.CloudSession`, turns a verification failure into `CloudNotTrusted` with
its own reason, and remembers the last outcome for the status page, `mpac-agent status` and `doctor`.

The pin check runs inside the TLS handshake (a custom `SSLContext.sslobject_class`, documented in the `ssl`
module), so a request is never sent to a server whose key is not pinned.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from yarl import URL

from sync.errors import CloudNotTrusted

PIN_PREFIX = "sha256/"
MIN_PINS = 2  # the current key and a backup key: losing the one key must not lock every terminal out
# OpenSSL's X509_V_ERR_* codes (x509_vfy.h), as ssl.SSLCertVerificationError.verify_code reports them.
_REASON_OF_CODE = {
    2: "unknown_ca", 18: "unknown_ca", 19: "unknown_ca", 20: "unknown_ca", 21: "unknown_ca",
    10: "expired", 9: "not_yet_valid", 62: "wrong_host", 64: "wrong_host",
}
_ADVICE = {
    "unknown_ca": "it is not signed by a CA this terminal trusts; for a private CA set [cloud] ca_file to "
                  "the CA's PEM file (mpac-agent enroll --ca-file for the first contact)",
    "expired": "it has expired; the cloud's operator must install a renewed certificate (and check the "
               "clock of this terminal)",
    "not_yet_valid": "it is not valid yet; check the clock of this terminal",
    "wrong_host": "it was issued for another host name; check [cloud] url",
    "pin_mismatch": "it verifies, but its public key is none of [cloud] pins; a new cloud key must be added "
                    "to the pins before it is deployed",
    "untrusted": "it does not verify",
}


def spki_pin(der_certificate: bytes) -> str:
    """`sha256/<base64>` of a DER certificate's SubjectPublicKeyInfo: the form of `[cloud] pins`."""
    cert = x509.load_der_x509_certificate(der_certificate)
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return PIN_PREFIX + base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


def check_pins(pins: Iterable[str]) -> tuple[str, ...]:
    """The pins as given, or ValueError saying what is wrong (form, count); none at all is fine."""
    found = tuple(pins)
    for pin in found:
        try:
            ok = pin.startswith(PIN_PREFIX) and len(base64.b64decode(pin[len(PIN_PREFIX):],
                                                                     validate=True)) == 32
        except (binascii.Error, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"a pin is {PIN_PREFIX}<base64 of the 32-byte SHA-256 of the "
                             f"SubjectPublicKeyInfo>, got {pin[:60]!r}")
    if found and len(set(found)) < MIN_PINS:
        raise ValueError(f"give at least {MIN_PINS} different pins (the current key and a backup key)")
    return found


def is_loopback_host(host: str | None) -> bool:
    """localhost, 127.0.0.0/8 or ::1."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def plain_http_refusal(url: URL) -> CloudNotTrusted | None:
    """The error for an http:// URL that is not on loopback (None when the URL may be used)."""
    if url.scheme == "http" and not is_loopback_host(url.host):
        return CloudNotTrusted(f"refusing plain HTTP to {url.host}: the cloud must be https:// (http:// is "
                               "allowed for a loopback cloud only)", reason="plain_http")
    return None


@dataclass(frozen=True, slots=True)
class CertificateState:
    """The last verification outcome: state `not_checked`, `verified` or `failed`."""

    state: str = "not_checked"
    at: float | None = None
    reason: str | None = None
    detail: str | None = None
    subject: str | None = None
    issuer: str | None = None
    not_after: int | None = None  # unix s
    pinned: bool = False


class _CheckedObject(ssl.SSLObject):
    """An SSLObject that, once OpenSSL has verified the peer, checks the pins and notes the certificate."""

    trust: ClassVar[CloudTrust]

    def do_handshake(self) -> None:
        super().do_handshake()  # SSLWantReadError while in progress; verification errors from OpenSSL
        der = self.getpeercert(binary_form=True)
        if der is not None:
            self.trust.after_verification(der)


class PinMismatch(ssl.SSLCertVerificationError):
    """The certificate verified but its key is not pinned; raised inside the handshake."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.verify_code, self.verify_message = 0, message
        self.reason = "pin_mismatch"


class CloudTrust:
    """The agent's trust in the cloud: CA (system store or ca_file), pins, and the last outcome."""

    def __init__(self, ca_file: Path | None = None, pins: Iterable[str] = (),
                 clock: Callable[[], float] = time.time) -> None:
        self.ca_file = ca_file
        self.pins = check_pins(pins)
        self._clock = clock
        self._context: ssl.SSLContext | None = None
        self.last = CertificateState()

    def ssl_context(self) -> ssl.SSLContext:
        """The client context (built on first use); CloudNotTrusted(reason="ca_file") if ca_file is bad."""
        if self._context is None:
            try:
                cafile = None if self.ca_file is None else str(self.ca_file)
                context = ssl.create_default_context(cafile=cafile)
            except (OSError, ssl.SSLError) as err:
                detail = getattr(err, "strerror", None) or str(err)
                raise self.failed(CloudNotTrusted(f"cannot load [cloud] ca_file {self.ca_file}: {detail}",
                                                  reason="ca_file")) from err
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.sslobject_class = type("CheckedObject", (_CheckedObject,), {"trust": self})
            self._context = context
        return self._context

    def after_verification(self, der: bytes) -> None:
        """Called inside the handshake: check the pins (PinMismatch), then note the certificate."""
        pin = spki_pin(der)
        cert = x509.load_der_x509_certificate(der)
        if self.pins and pin not in self.pins:
            raise PinMismatch(f"public key {pin} is not pinned")
        self.last = CertificateState(
            "verified", self._clock(), subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(), not_after=int(cert.not_valid_after_utc.timestamp()),
            pinned=bool(self.pins))

    def rejected(self, err: BaseException, where: str) -> CloudNotTrusted:
        """The CloudNotTrusted for a failed verification of the cloud at `where` (noted as the last one)."""
        reason = getattr(err, "reason", None) if isinstance(err, PinMismatch) else None
        reason = reason or _REASON_OF_CODE.get(getattr(err, "verify_code", -1), "untrusted")
        said = getattr(err, "verify_message", None) or str(err)
        message = f"TLS verification of {where} failed ({reason}): {_ADVICE[reason]} [{said}]"
        return self.failed(CloudNotTrusted(message, reason=reason))

    def failed(self, err: CloudNotTrusted) -> CloudNotTrusted:
        """Note a failure (also plain_http / ca_file ones) and give the error back."""
        self.last = CertificateState("failed", self._clock(), reason=err.reason, detail=str(err),
                                     pinned=bool(self.pins))
        return err

    def status(self, url: str) -> dict[str, Any]:
        """The certificate block of the status page and /api/status for the cloud at `url`."""
        trust = {"ca": str(self.ca_file) if self.ca_file else "system", "pins": len(self.pins)}
        if URL(url).scheme == "http":
            return {"state": "plain_http", "detail": "plain HTTP to a loopback cloud: no certificate",
                    **trust}
        return {**asdict(self.last), **trust}
