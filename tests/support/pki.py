"""The test session's PKI, made once with `cryptography` (sync.testing.pki): a CA and a server certificate
for 127.0.0.1/localhost, a second (wrong) CA, an expired and a wrong-host certificate from the right CA, and
pins."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from sync.testing.pki import Issued, ServerFiles, TestCA
from sync.tls import spki_pin


@dataclass(frozen=True, slots=True)
class Pki:
    """Files of the session PKI; `pins` match `good`, `wrong_pins` match nothing served here."""

    ca: Path
    wrong_ca: Path
    good: ServerFiles
    by_wrong_ca: ServerFiles
    expired: ServerFiles
    wrong_host: ServerFiles
    pins: tuple[str, str]
    wrong_pins: tuple[str, str]


def _pin_of_new_key() -> str:
    ca = TestCA("pin only")
    return spki_pin(ca.issue().der)


def build_pki(directory: Path) -> Pki:
    """Generate everything into `directory`."""
    ca, wrong = TestCA("MPAC Test CA"), TestCA("Someone Else's CA")
    good: Issued = ca.issue(key=ec.generate_private_key(ec.SECP256R1()))
    return Pki(
        ca=ca.write(directory / "ca.pem"), wrong_ca=wrong.write(directory / "wrong-ca.pem"),
        good=good.write(directory, "good"), by_wrong_ca=wrong.issue().write(directory, "by-wrong-ca"),
        expired=ca.issue_expired().write(directory, "expired"),
        wrong_host=ca.issue(("pgw.example.com",)).write(directory, "wrong-host"),
        pins=(spki_pin(good.der), _pin_of_new_key()), wrong_pins=(_pin_of_new_key(), _pin_of_new_key()))
