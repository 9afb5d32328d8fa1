"""Typed keys of the aiohttp application state."""

from aiohttp import web

from agent.deps import Deps

DEPS = web.AppKey("agent_deps", Deps)
