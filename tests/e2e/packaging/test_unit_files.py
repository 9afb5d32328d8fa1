"""The units as shipped in the .deb: `systemd-analyze verify` prints nothing, and the sandboxing scores an
exposure of at most 2.0 on `systemd-analyze security --offline=true`."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.e2e.packaging.conftest import REPO, require, run

UNITS = ("mpac-agent.service", "mpac-pgw.service")
MAX_EXPOSURE = 2.0


@pytest.fixture(scope="module")
def unpacked(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .deb unpacked over a copy of this machine's unit directory (verify resolves units under --root)."""
    require("systemd-analyze", "dpkg-deb")
    root = tmp_path_factory.mktemp("unpacked")
    run("dpkg-deb", "-x", deb, root)
    units = root / "usr" / "lib" / "systemd" / "system"
    shutil.copytree("/usr/lib/systemd/system", units, symlinks=True, dirs_exist_ok=True)
    for unit in UNITS:  # the host may have its own copies; ours must be what is checked
        shutil.copy(REPO / "systemd" / unit, units / unit)
    return root


class TestUnitFiles:
    @pytest.mark.parametrize("unit", UNITS)
    def test_shipped_unit_is_the_repository_file(self, unit: str, deb: Path, tmp_path: Path) -> None:
        """The .deb carries systemd/<unit> byte for byte."""
        run("dpkg-deb", "-x", deb, tmp_path)
        shipped = tmp_path / "usr" / "lib" / "systemd" / "system" / unit
        assert shipped.read_bytes() == (REPO / "systemd" / unit).read_bytes()

    @pytest.mark.parametrize("unit", UNITS)
    def test_verify_prints_nothing(self, unpacked: Path, unit: str) -> None:
        """`systemd-analyze verify` exits 0 even after a parse error, so any output at all fails."""
        proc = run("systemd-analyze", "verify", f"--root={unpacked}", "--man=no", unit, check=False)
        assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")

    @pytest.mark.parametrize("unit", UNITS)
    def test_security_exposure_at_most_2(self, unpacked: Path, unit: str) -> None:
        """The offline security score of the unit is 2.0 or less ("OK")."""
        path = unpacked / "usr" / "lib" / "systemd" / "system" / unit
        proc = run("systemd-analyze", "security", "--offline=true", f"--threshold={int(MAX_EXPOSURE * 10)}",
                   path, check=False)
        found = re.search(r"Overall exposure level for \S+: (\d+\.\d)", proc.stdout)
        assert found is not None, proc.stdout[-2000:]
        print(f"{unit}: exposure {found.group(1)}")
        assert proc.returncode == 0 and float(found.group(1)) <= MAX_EXPOSURE
