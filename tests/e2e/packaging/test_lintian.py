"""lintian on the .deb: no error and no warning; every override shipped carries a one-line reason."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.packaging.conftest import REPO, require, run

# Not packaging faults: no man page yet (mpac-agent --help is the manual), and this package has no Debian bug.
SUPPRESSED = "no-manual-page,initial-upload-closes-no-bugs"


class TestLintian:
    def test_no_errors_no_warnings(self, deb: Path) -> None:
        """lintian reports no E: or W: line (overrides in packaging/lintian/mpac-agent)."""
        require("lintian")
        proc = run("lintian", "--fail-on", "error,warning", "--suppress-tags", SUPPRESSED, deb, check=False)
        findings = [line for line in proc.stdout.splitlines() if line[:2] in ("E:", "W:")]
        assert proc.returncode == 0 and findings == [], proc.stdout[-4000:]

    def test_every_override_has_a_reason(self) -> None:
        """Each override line follows a comment line saying why."""
        lines = (REPO / "packaging" / "lintian" / "mpac-agent").read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if line.startswith("mpac-agent:"):
                assert i > 0 and lines[i - 1].startswith("#"), line
