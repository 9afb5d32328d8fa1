"""`mpac-agent --version` and `python -m agent`: the distribution's version, the same CLI as the script."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import agent


class TestVersion:
    def test_python_m_agent_prints_the_distribution_version(self) -> None:
        """`python -m agent --version` runs the console script's parser and prints the installed version."""
        out = subprocess.run([sys.executable, "-m", "agent", "--version"], capture_output=True, text=True,
                             timeout=60, check=True)
        assert out.stdout.strip() == f"mpac-agent {metadata.version('mpac-edge')}"

    def test_python_m_agent_help_lists_the_subcommands(self) -> None:
        """`python -m agent --help` is the mpac-agent parser (same subcommands)."""
        out = subprocess.run([sys.executable, "-m", "agent", "--help"], capture_output=True, text=True,
                             timeout=60, check=True)
        assert "usage: mpac-agent" in out.stdout and "doctor" in out.stdout and "demo" in out.stdout

    def test_package_version_is_the_metadata(self) -> None:
        """agent.__version__ (shown on /api/status) is read from the distribution, not a second copy."""
        assert agent.__version__ == metadata.version("mpac-edge")
