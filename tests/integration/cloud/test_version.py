"""`mpac-pgw --version` and `python -m cloud`: the distribution's version, the same CLI as the script."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata


class TestVersion:
    def test_python_m_cloud_prints_the_distribution_version(self) -> None:
        """`python -m cloud --version` prints `mpac-pgw <installed version>`."""
        out = subprocess.run([sys.executable, "-m", "cloud", "--version"], capture_output=True, text=True,
                             timeout=60, check=True)
        assert out.stdout.strip() == f"mpac-pgw {metadata.version('mpac-edge')}"

    def test_python_m_cloud_help_is_the_console_script(self) -> None:
        """`python -m cloud --help` is the mpac-pgw parser with serve and admin."""
        out = subprocess.run([sys.executable, "-m", "cloud", "--help"], capture_output=True, text=True,
                             timeout=60, check=True)
        assert "usage: mpac-pgw" in out.stdout and "serve" in out.stdout and "admin" in out.stdout
