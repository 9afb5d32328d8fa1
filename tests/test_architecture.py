"""Import rules between the packages: the "never" arrows of the layers, checked on the source with `ast`.

Every `import x` and `from x import y` counts, wherever it sits (module level, inside a function, under
TYPE_CHECKING); relative imports are resolved against the module's package. Imports by string
(`importlib.import_module`, `python -m cloud.cli` in a subprocess) are not imports and are not checked.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DOMAIN = "a domain imports no I/O and no outer layer"
# Modules that do I/O (or are I/O frameworks): a domain layer imports none of them.
IO = ("aiohttp", "aiosqlite", "sqlite3", "asyncpg", "serial", "socket", "ssl", "http", "urllib.request",
      "subprocess", "opentelemetry")


@dataclass(frozen=True, slots=True)
class Rule:
    """Modules in `package` (and below), `exempt` excepted, import nothing in `forbidden`."""

    package: str
    forbidden: tuple[str, ...]
    reason: str
    exempt: tuple[str, ...] = ()  # modules (and below) of `package` the rule does not apply to


RULES = (
    Rule("cloud.domain", (*IO, "cloud.infrastructure", "cloud.api", "cloud.service", "cloud.settings",
                          "cloud.bootstrap"), DOMAIN),
    Rule("agent.domain", (*IO, "agent.adapters", "agent.entrypoints", "agent.services", "agent.bootstrap"),
         DOMAIN),
    Rule("cloud", ("agent",), "cloud never imports agent"),
    # agent/demo.py starts the cloud as a process (`python -m cloud.cli`), not by import: no exemption needed.
    Rule("agent", ("cloud",), "agent never imports cloud"),
    Rule("drivers", ("agent", "sync", "cloud"), "drivers imports no agent, sync, cloud"),
    # sync/testing/ (the fake cloud, the chaos run) drives agent and cloud as processes only: no exemption.
    Rule("sync", ("agent", "cloud"), "sync imports no agent or cloud"),
)


def _within(module: str, prefix: str) -> bool:
    """Whether `module` is `prefix` or a module below it (`agent.cloud` is not below `cloud`)."""
    return module == prefix or module.startswith(prefix + ".")


def module_name(path: Path, root: Path) -> str:
    """The dotted module name of a file under `root` (a package's `__init__.py` is the package)."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of each name the file imports; `from x import y` is `x.y`, relatives resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # `from ..x import y` in package a.b.c is `from a.b.x import y`
                parts = package.split(".")
                anchor = parts[: max(len(parts) - node.level + 1, 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from x import y` may bind a submodule (`from urllib import request`), so the whole name counts.
            yield from ((node.lineno, base if alias.name == "*" else f"{base}.{alias.name}".lstrip("."))
                        for alias in node.names)


def check_imports(root: Path, rules: tuple[Rule, ...] = RULES) -> list[str]:
    """Every broken rule under `root` as 'path:line imports X (rule: ...)', in path and line order."""
    violations = []
    for top in sorted({rule.package.split(".")[0] for rule in rules}):
        for path in sorted((root / top).rglob("*.py")):
            module = module_name(path, root)
            applicable = [r for r in rules if _within(module, r.package)
                          and not any(_within(module, e) for e in r.exempt)]
            if not applicable:
                continue
            for line, name in sorted(imported_names(path, module)):
                violations += [f"{path.relative_to(root).as_posix()}:{line} imports {name} (rule: {r.reason})"
                               for r in applicable if any(_within(name, f) for f in r.forbidden)]
    return violations


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


class TestRepositoryImports:
    def test_the_tree_keeps_every_rule(self) -> None:
        """No module of agent, cloud, drivers or sync imports across a forbidden arrow."""
        assert check_imports(ROOT) == []


class TestCheckImports:
    def test_reports_each_forbidden_import(self, tmp_path: Path) -> None:
        """Absolute, relative, in-function and submodule-by-from imports across an arrow are each reported."""
        _write(tmp_path, {
            "drivers/bad.py": "from agent.ports import CardResult\n",
            "cloud/domain/bad.py": "import aiosqlite\n",
            "cloud/domain/sub/rel.py": "import json\n\nfrom ...infrastructure import db\n",
            "cloud/domain/urls.py": "from urllib import request\n",
            "agent/domain/sale.py": "def save() -> None:\n    import sqlite3.dbapi2\n",
            "agent/qr.py": "from cloud.domain.intent import PaymentIntent\n",
            "sync/testing/__init__.py": "from .. import wire\nimport agent\n",
        })
        assert check_imports(tmp_path) == [
            f"agent/domain/sale.py:2 imports sqlite3.dbapi2 (rule: {DOMAIN})",
            "agent/qr.py:1 imports cloud.domain.intent.PaymentIntent (rule: agent never imports cloud)",
            f"cloud/domain/bad.py:1 imports aiosqlite (rule: {DOMAIN})",
            f"cloud/domain/sub/rel.py:3 imports cloud.infrastructure.db (rule: {DOMAIN})",
            f"cloud/domain/urls.py:1 imports urllib.request (rule: {DOMAIN})",
            "drivers/bad.py:1 imports agent.ports.CardResult (rule: drivers imports no agent, sync, cloud)",
            "sync/testing/__init__.py:2 imports agent (rule: sync imports no agent or cloud)",
        ]

    def test_clean_tree_has_no_violations(self, tmp_path: Path) -> None:
        """Look-alikes (agent.cloud, sync.testing.cloud), relative imports in a package and stdlib pass."""
        _write(tmp_path, {
            "agent/cloud.py": "import aiohttp\n",
            "agent/qr.py": "from agent.cloud import CloudClient\nfrom . import cloud\n",
            "agent/domain/sale.py": "import json\nfrom sync.wire import item_hash\nfrom .caps import Caps\n",
            "cloud/domain/__init__.py": "from .intent import PaymentIntent\n",
            "cloud/domain/intent.py": "from enum import StrEnum\nimport urllib.parse\n",
            "drivers/escpos/receipt.py": "from drivers.escpos import encode\nfrom . import status\n",
            "sync/testing/__init__.py": "from .cloud import Fake\nfrom sync.testing.cloud import Fake\n",
        })
        assert check_imports(tmp_path) == []

    def test_exempt_module_is_not_checked(self, tmp_path: Path) -> None:
        """A module a rule exempts may import what the rule forbids; its siblings still may not."""
        _write(tmp_path, {"agent/demo.py": "import cloud.cli\n", "agent/cli.py": "import cloud.cli\n"})
        rules = (Rule("agent", ("cloud",), "agent never imports cloud", exempt=("agent.demo",)),)
        assert check_imports(tmp_path, rules) == [
            "agent/cli.py:1 imports cloud.cli (rule: agent never imports cloud)"]
