"""cloud/domain stays pure: no I/O library, infrastructure, API, config or environment access."""

from __future__ import annotations

import ast
from pathlib import Path

import cloud.domain

DOMAIN = Path(cloud.domain.__file__).parent
FORBIDDEN_MODULES = (
    "aiohttp",
    "aiosqlite",
    "asyncpg",
    "sqlite3",
    "socket",
    "requests",
    "cloud.infrastructure",
    "cloud.api",
    "cloud.settings",
    "cloud.bootstrap",
    "cloud.deps",
    "opentelemetry",
)


def offences(source: str) -> list[str]:
    """Forbidden imports and os.environ / os.getenv uses in one module's source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        found += [n for n in names if n == "os" or n.startswith(FORBIDDEN_MODULES)]
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os":
            found.append(f"os.{node.attr}")
    return found


class TestDomainPurity:
    def test_no_module_imports_io_or_reads_the_environment(self) -> None:
        """Every file under cloud/domain is free of I/O imports and environment reads."""
        files = sorted(DOMAIN.rglob("*.py"))
        assert len(files) >= 5
        bad = {str(f.relative_to(DOMAIN)): offences(f.read_text("utf-8")) for f in files}
        assert {k: v for k, v in bad.items() if v} == {}

    def test_the_checker_catches_offences(self) -> None:
        """The walker itself flags each forbidden pattern (so the test above can fail)."""
        sample = (
            "import aiohttp\nfrom aiosqlite import connect\nimport asyncpg\n"
            "from cloud.infrastructure.sqlite import db\nimport os\nx = os.environ['A']\n"
        )
        assert offences(sample) == [
            "aiohttp",
            "aiosqlite",
            "asyncpg",
            "cloud.infrastructure.sqlite",
            "os",
            "os.environ",
        ]
