"""The QR provider registry: providers by name, and the default for stores without a config."""

from __future__ import annotations

from collections.abc import Iterable

from cloud.domain.provider_ports import QRProvider
from cloud.infrastructure.providers.http import Closeable


class Registry:
    """Providers keyed by their `name`."""

    def __init__(self, providers: Iterable[QRProvider], default: str) -> None:
        self._providers = {p.name: p for p in providers}
        if default not in self._providers:
            raise ValueError(f"default provider {default!r} is not registered")
        self._default = default

    def get(self, name: str) -> QRProvider | None:
        """The provider, or None."""
        return self._providers.get(name)

    @property
    def default(self) -> str:
        """The provider used when a store has no config."""
        return self._default

    def names(self) -> list[str]:
        """Registered provider names."""
        return sorted(self._providers)

    async def aclose(self) -> None:
        """Close every provider's pooled connections (docs/providers.md#connections)."""
        for provider in self._providers.values():
            if isinstance(provider, Closeable):
                await provider.aclose()
