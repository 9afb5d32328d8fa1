"""Query strings through pydantic models (the list endpoints of docs/cloud-api.md)."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from cloud.api.errors import ApiError

Q = TypeVar("Q", bound=BaseModel)


def parse_query(request: web.Request, model: type[Q]) -> Q:
    """The request's query through `model`; its first error is 400 invalid_parameter naming the parameter."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        param = ".".join(str(x) for x in first["loc"]) or None
        raise ApiError(400, "invalid_parameter", f"{param}: {first['msg']}", param=param) from err
