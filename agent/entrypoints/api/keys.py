"""Typed keys of the aiohttp application state."""

from aiohttp import web

from agent.deps import AgentContext

CTX = web.AppKey("agent_context", AgentContext)
