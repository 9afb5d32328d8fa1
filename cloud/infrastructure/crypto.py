"""Encryption at rest for provider credentials (Fernet: AES-128-CBC + HMAC-SHA256, from cryptography)."""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    """Seals and opens small JSON objects with one key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @staticmethod
    def generate_key() -> bytes:
        """A fresh url-safe base64 32-byte key."""
        return Fernet.generate_key()

    def seal(self, value: dict[str, str]) -> bytes:
        """Encrypt a JSON object."""
        return self._fernet.encrypt(json.dumps(value, sort_keys=True).encode("utf-8"))

    def open(self, sealed: bytes) -> dict[str, str]:
        """Decrypt; ValueError if the key is wrong or the data was altered."""
        try:
            plain = self._fernet.decrypt(sealed)
        except InvalidToken as err:
            raise ValueError("provider credentials cannot be decrypted with this key") from err
        value: dict[str, str] = json.loads(plain)
        return value
