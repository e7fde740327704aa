"""Request bodies of the sandbox's control routes: a JSON object, validated by a pydantic model;
anything else is a `BadRequest` with a short reason (HTTP 400) and changes nothing."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request


class BadRequest(Exception):
    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason, self.status = reason, status


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


async def read_object(request: Request) -> dict[str, Any]:
    """The JSON object in the body (empty body: {}); BadRequest otherwise."""
    try:
        data = json.loads(await request.body() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


def validated(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """`data` as `model`; BadRequest naming each bad field otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(_reason(exc)) from None
