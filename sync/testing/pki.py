"""A throwaway PKI made with `cryptography`: a CA and the server certificates it signs.

For tests (right and wrong CA, expired, wrong host name, pins), the benches and `mpac-agent demo`, which
serves its cloud over HTTPS with a certificate from here (docs/operations.md, "Certificates"). EC P-256 keys:
quick to generate, so a test session makes its PKI in milliseconds. Never for production certificates.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_DAY = datetime.timedelta(days=1)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


@dataclass(frozen=True, slots=True)
class ServerFiles:
    """A certificate (PEM), its private key (PEM, 0600) and where they were written."""

    cert: Path
    key: Path


def server_context(files: ServerFiles) -> ssl.SSLContext:
    """A TLS server context over these files, for the reference endpoint (the real cloud has cloud/tls.py)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert, files.key)
    return context


@dataclass(frozen=True, slots=True)
class Issued:
    """A server certificate and its key."""

    cert_pem: bytes
    key_pem: bytes = b""

    @property
    def der(self) -> bytes:
        """The certificate in DER (what a pin is computed over)."""
        return x509.load_pem_x509_certificate(self.cert_pem).public_bytes(serialization.Encoding.DER)

    def write(self, directory: Path, name: str) -> ServerFiles:
        """`<name>.pem` and `<name>.key` (0600) in `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / f"{name}.pem", directory / f"{name}.key"
        cert.write_bytes(self.cert_pem)
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(self.key_pem)
        return ServerFiles(cert, key)


class TestCA:
    """A self-signed CA; `issue()` signs server certificates for host names and IP addresses."""

    __test__ = False  # not a pytest test class

    def __init__(self, name: str = "MPAC Test CA", *, days: int = 30) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = _now()
        self.cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _DAY).not_valid_after(now + days * _DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate in PEM: what `[cloud] ca_file` points to."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write(self, path: Path) -> Path:
        """Write the CA certificate (PEM) to `path`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.cert_pem)
        return path

    def issue(self, hosts: Sequence[str] = LOOPBACK_NAMES, *, not_before: datetime.datetime | None = None,
              not_after: datetime.datetime | None = None,
              key: ec.EllipticCurvePrivateKey | None = None) -> Issued:
        """A server certificate for `hosts` (valid from yesterday for 30 days unless given)."""
        key = key or ec.generate_private_key(ec.SECP256R1())
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - _DAY).not_valid_after(not_after or now + 30 * _DAY)
            .add_extension(_san(hosts), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                           critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))

    def issue_expired(self, hosts: Sequence[str] = LOOPBACK_NAMES) -> Issued:
        """A certificate for `hosts` whose validity ended yesterday."""
        now = _now()
        return self.issue(hosts, not_before=now - 10 * _DAY, not_after=now - _DAY)


def write_demo_pki(directory: Path, hosts: Sequence[str] = LOOPBACK_NAMES) -> tuple[Path, ServerFiles]:
    """A CA (`ca.pem`) and a server certificate for `hosts` (`server.pem`, `server.key`) in `directory`."""
    ca = TestCA("MPAC throwaway demo CA", days=365)
    files = ca.issue(hosts, not_after=_now() + 364 * _DAY).write(directory, "server")
    return ca.write(directory / "ca.pem"), files
