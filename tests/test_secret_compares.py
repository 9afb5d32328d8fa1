"""Secrets are compared in constant time: no `==` / `!=` on a secret-looking value in the product code.

A signature, an API key's hash or a password digest compared with `==` leaks, through the time the comparison
takes, how many leading bytes matched; `hmac.compare_digest` (or `secrets.compare_digest`) does not. This test
walks agent/, cloud/, sync/ and drivers/ with `ast` and fails on any `==` / `!=` where one side is a name, an
attribute, a call or a subscript key whose identifier holds a secret word, and the other side is not a literal
(`token == ""` or `secret is None` reveal nothing). It cannot see every disguise; it catches the plain mutant
of each real check (the request signature, the API key hash, the admin password).
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "cloud", "sync", "drivers")

# Words (of snake_case / camelCase identifiers) that name a secret or something derived from one.
SECRET_WORDS = frozenset({
    "signature", "sig", "secret", "password", "passwd", "passphrase", "passcode", "pin", "otp", "token",
    "digest", "hexdigest", "mac", "hmac", "credential",
})
# Two words that are secret together though not apart ("key_hash": a stored API key hash).
SECRET_PAIRS = frozenset({("key", "hash"), ("password", "hash"), ("token", "hash")})

# Comparisons that look secret but are not, by file and the comparison's exact source text, with the reason.
ALLOWED: dict[tuple[str, str], str] = {
    ("cloud/api/endpoint.py", "stored.fingerprint != digest"):
        "the Idempotency-Key request fingerprint (sha256 of the caller's own request), not a secret",
    ("cloud/infrastructure/speed.py",
     "hashlib.sha256(item.prev_hash.encode('ascii') + canonical).hexdigest() == item.hash"):
        "the public hash chain of a sync item (docs/sync-protocol.md), not a secret",
    ("cloud/infrastructure/postgres/migrate.py", "done[name] != digest"):
        "the sha256 of a migration file's own text (docs/operations.md), not a secret",
}


def words(identifier: str) -> list[str]:
    """`keyHash` / `key_hash` / `KEY_HASH` → ["key", "hash"]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", identifier).lower()
    return [w for w in re.split(r"[^a-z0-9]+", spaced) if w]


def looks_secret(identifier: str) -> bool:
    """Does the identifier name a secret (one secret word, or a secret pair of adjacent words)?"""
    parts = words(identifier)
    pairs = itertools.pairwise(parts)
    return bool(SECRET_WORDS.intersection(parts)) or any(pair in SECRET_PAIRS for pair in pairs)


def identifier(node: ast.expr) -> str | None:
    """The identifier an operand is known by: `x`, `a.x`, `f(...)` / `a.f(...)`, `row["x"]` / `row[x]`."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return identifier(node.func)
    if isinstance(node, ast.Subscript):
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return key.value
        return identifier(node.value)
    return None


def is_literal(node: ast.expr) -> bool:
    """A constant, or a tuple/list/set/dict of constants: comparing with it reveals no secret."""
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def plain_secret_compares(source: str) -> Iterator[tuple[int, str]]:
    """(line, source text) of each `==` / `!=` with a secret-looking, non-literal operand."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for op, (left, right) in zip(node.ops, itertools.pairwise(operands), strict=True):
            if not isinstance(op, ast.Eq | ast.NotEq) or is_literal(left) or is_literal(right):
                continue
            if any((name := identifier(side)) is not None and looks_secret(name) for side in (left, right)):
                yield node.lineno, ast.unparse(node)
                break


def product_files() -> Iterator[Path]:
    """Every Python file of the four product packages."""
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


class TestSecretCompares:
    def test_secrets_are_compared_in_constant_time(self) -> None:
        """No `==` / `!=` on a secret-looking value in agent/, cloud/, sync/ or drivers/."""
        found = []
        for path in product_files():
            rel = path.relative_to(ROOT).as_posix()
            for line, text in plain_secret_compares(path.read_text(encoding="utf-8")):
                if (rel, text) not in ALLOWED:
                    found.append(f"{rel}:{line}: {text}  (use hmac.compare_digest)")
        assert not found, "\n".join(found)

    def test_allow_list_has_no_stale_entries(self) -> None:
        """Each allowed comparison still exists where it is listed (else the entry hides nothing)."""
        present = {(path.relative_to(ROOT).as_posix(), text) for path in product_files()
                   for _line, text in plain_secret_compares(path.read_text(encoding="utf-8"))}
        assert set(ALLOWED) <= present, set(ALLOWED) - present

    def test_the_real_checks_use_compare_digest(self) -> None:
        """The three secret checks call compare_digest (so the scan above has something to guard)."""
        for rel in ("sync/signing.py", "cloud/api/auth.py", "agent/adapters/secrets.py"):
            assert "compare_digest(" in (ROOT / rel).read_text(encoding="utf-8"), rel


class TestTheScanItself:
    BAD = """
def verify(parsed, expected, row, first, presented, got, digest, user, given):
    if expected == parsed.signature: ...
    if first.key_hash != presented: ...
    if got.hex() == digest: ...
    if row["password_hash"] == given: ...
    if compute_mac(given) == expected: ...
    if user.pinCode == given: ...
    if a == b == user.secret: ...
"""
    GOOD = """
import hmac, secrets
def verify(parsed, expected, first, presented, secret, token, head, prev_hash, key):
    hmac.compare_digest(expected, parsed.signature)
    secrets.compare_digest(first.key_hash, presented)
    if token == "" or secret is None or len(secret) != 32: ...
    if parsed.signature == ("a", "b"): ...
    if prev_hash != head.hash: ...
    if key == (27, 64): ...
    if token in (None, ""): ...
"""

    def test_flags_every_plain_comparison_of_a_secret(self) -> None:
        """Each line of the bad snippet (the mutants of the real checks among them) is flagged once."""
        flagged = [line for line, _text in plain_secret_compares(self.BAD)]
        assert flagged == list(range(3, 10))

    def test_constant_time_and_literal_comparisons_pass(self) -> None:
        """compare_digest, comparisons with literals, and public hashes are not flagged."""
        assert list(plain_secret_compares(self.GOOD)) == []

    def test_catches_the_mutant_of_each_real_check(self) -> None:
        """Each `compare_digest(a, b)` of the product code, rewritten as `a == b`, is flagged."""
        mutants = 0
        for path in product_files():
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for call in [n for n in ast.walk(tree) if isinstance(n, ast.Call)]:
                if identifier(call.func) == "compare_digest" and len(call.args) == 2:
                    mutant = ast.Compare(left=call.args[0], ops=[ast.Eq()], comparators=[call.args[1]])
                    assert list(plain_secret_compares(ast.unparse(mutant))), (path, ast.unparse(call))
                    mutants += 1
        assert mutants >= 3

    def test_identifier_words(self) -> None:
        """snake_case, camelCase and UPPER_CASE split into words; a pair counts only adjacent."""
        assert words("keyHash") == words("KEY_HASH") == ["key", "hash"]
        assert looks_secret("key_hash") and looks_secret("payment_token") and looks_secret("hexdigest")
        assert not looks_secret("prev_hash") and not looks_secret("machine") and not looks_secret("hash_key")
