"""Typed application state keys."""

from __future__ import annotations

from aiohttp import web

from cloud.api.ratelimit import PeerLimits, SharedLimiter
from cloud.deps import Deps
from cloud.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DEPS = web.AppKey("deps", Deps)
LIMITER = web.AppKey("limiter", SharedLimiter)
PEER_LIMITS = web.AppKey("peer_limits", PeerLimits)
IN_FLIGHT = web.AppKey("in_flight", set[tuple[str, str]])
