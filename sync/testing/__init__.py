"""Test doubles shipped with the sync package (like structlog.testing): a chaos TCP proxy and a reference
batch endpoint. Both are real servers on loopback, used by tests and benchmarks of the uploader."""

from sync.testing.cloud import FakeCloud, FakeDevice, create_fake_cloud_app
from sync.testing.proxy import ChaosConfig, ChaosProxy, ChaosStats

__all__ = ["ChaosConfig", "ChaosProxy", "ChaosStats", "FakeCloud", "FakeDevice", "create_fake_cloud_app"]
