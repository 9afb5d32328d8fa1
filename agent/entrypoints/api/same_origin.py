"""Cross-site request forgery defence of the local web: a state-changing request must come from the agent's
own pages, as JSON (docs/local-web.md, "Cross-origin requests").

Any method other than GET, HEAD and OPTIONS changes state (or may, once someone adds a route), so for each:

- `Origin`, when sent, must be this agent's own origin (scheme, host and port of the request's `Host`);
  `Origin: null` (sandboxed frames, file: pages) is refused too;
- `Sec-Fetch-Site`, when sent, must be `same-origin` or `none` (typed by the user); `same-site` is refused,
  since another port of 127.0.0.1 is the same site but not this agent;
- `Content-Type` must be `application/json` (415 otherwise): a page elsewhere can send text/plain, form or
  multipart bodies without a CORS preflight, but never JSON, and the agent answers no preflight.

Browsers send `Origin` on every cross-origin POST, so a request with neither header is not a page's: curl, the
CLI, scripts on the terminal. Those pass the origin check and still need JSON. The middleware wraps the whole
app, so a route added later cannot forget it.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware
from yarl import URL

from agent.entrypoints.api.errors import Handler, error_json
from agent.entrypoints.api.host_guard import host_name

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FETCH_SITES_OK = frozenset({"same-origin", "none"})


def _origin_key(url: URL) -> tuple[str, str, int | None] | None:
    if url.scheme not in ("http", "https") or not url.host or url.user or url.path not in ("", "/"):
        return None
    return url.scheme, url.host.rstrip(".").lower(), url.port  # yarl fills in the scheme's default port


def is_own_origin(request: web.Request, origin: str) -> bool:
    """True if the `Origin` header value names the origin this request was sent to."""
    host = request.headers.get("Host", "")
    if not origin.isascii() or host_name(host) is None:  # the Host guard let only a well-formed one through
        return False
    try:
        theirs, ours = _origin_key(URL(origin)), _origin_key(URL(f"{request.scheme}://{host}"))
    except ValueError:
        return False
    return theirs is not None and theirs == ours


def refusal(request: web.Request) -> web.Response | None:
    """The answer to a state-changing request that is cross-origin or not JSON; None when it may go on."""
    if request.method in SAFE_METHODS:
        return None
    origin = request.headers.get("Origin")
    site = request.headers.get("Sec-Fetch-Site")
    if (origin is not None and not is_own_origin(request, origin)) or (
            site is not None and site.lower() not in _FETCH_SITES_OK):
        return error_json(403, "permission_error", "cross_origin_refused",
                          "This terminal takes changes only from its own pages (cashier screen, status "
                          "page); a request from another web page was refused.")
    if request.content_type != "application/json":
        return error_json(415, "invalid_request_error", "json_required",
                          "Send this request as JSON (Content-Type: application/json).")
    return None


def same_origin_guard() -> Middleware:
    """The aiohttp middleware; put it right after the Host guard so no handler runs for a forged request."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        refused = refusal(request)
        return refused if refused is not None else await handler(request)

    return guard
