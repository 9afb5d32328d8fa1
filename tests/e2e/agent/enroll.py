"""`mpac-agent …` as a real command, and a terminal enrolled with the real cloud through `mpac-agent enroll`
(shared by the doctor/status tests and the QR provider tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.agent.process import REPO, agent_config, closed_port, write_config
from tests.e2e.web.real_cloud import RealCloudProcess


def cli(*args: str) -> tuple[int, str]:
    """Run `mpac-agent …` (python -m agent.entrypoints.cli) → (exit code, stdout)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MPAC_AGENT_CONFIG", "CREDENTIALS_DIRECTORY")}
    done = subprocess.run(
        [sys.executable, "-m", "agent.entrypoints.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout


def enrolled_config(
    tmp_path: Path,
    cloud: RealCloudProcess,
    provider: tuple[str, dict[str, str]] | None = None,
    **sections: dict[str, Any],
) -> Path:
    """A config whose agent is enrolled with the real cloud through `mpac-agent enroll`; its store is set to
    `provider` (name, credentials) with `mpac-pgw admin provider-config set` when given."""
    return enroll_agent(tmp_path, cloud, provider, **sections)[0]


def enroll_agent(
    tmp_path: Path,
    cloud: RealCloudProcess,
    provider: tuple[str, dict[str, str]] | None = None,
    **sections: dict[str, Any],
) -> tuple[Path, dict[str, Any]]:
    """`enrolled_config`, and what `mpac-agent enroll` printed (device_id, the one-time admin_password…)."""
    overrides: dict[str, dict[str, Any]] = {
        "cloud": {"url": cloud.url, "timeout_s": 3.0},
        "web": {"host": "127.0.0.1", "port": closed_port()},
        **sections,
    }
    config = write_config(tmp_path / "agent.toml", agent_config(tmp_path, overrides))
    partner = cloud.admin("partner", "create", "--name", "doc-p")
    merchant = cloud.admin("merchant", "create", "--partner", partner["client_partner_id"], "--name", "doc-m")
    store = cloud.admin("store", "create", "--merchant", merchant["merchant_id"], "--code", "doc-1")
    if provider is not None:
        name, credentials = provider
        cloud.admin("provider-config", "set", "--store", store["store_id"], "--provider", name,
                    "--credentials", json.dumps(credentials))  # fmt: skip
    code = cloud.admin("activation-code", "--store", store["store_id"])["activation_code"]
    rc, out = cli("enroll", "--config", str(config), "--cloud", cloud.url, "--code", code)
    assert rc == 0, out
    return config, json.loads(out)
