"""Typed application state keys."""

from __future__ import annotations

from aiohttp import web

from cloud.api.auth import ReplayCache
from cloud.api.ratelimit import RateLimiter
from cloud.deps import Deps
from cloud.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DEPS = web.AppKey("deps", Deps)
REPLAY = web.AppKey("replay", ReplayCache)
LIMITER = web.AppKey("limiter", RateLimiter)
IN_FLIGHT = web.AppKey("in_flight", set[tuple[str, str]])
