"""REST routes built from service operations, as the gRPC servicers are
(`query_api.grpc.common.unary`): `POST <prefix>/<method>` takes the operation's request
model as its JSON body, the caller from `Authorization: Bearer <key>`, and answers what the
operation answers. The route's description is the operation's docstring.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.datastructures import Default

from query_api.rest.deps import CallerDep
from query_api.services.operation import Operation, request_model

Answer = dict[str, Any]
INFERRED = Default(None)  # FastAPI's own default: the response model is the declared answer


def post(
    router: APIRouter,
    path: str,
    operation: Operation,
    backend: Any,
    *,
    name: str | None = None,
    returns: Any = Answer,
    response_model: Any = INFERRED,
    answer: Callable[[Any], Any] | None = None,
    authenticated: bool = True,
) -> None:
    """Add `POST path` calling `operation` over `backend` (an `Annotated` dependency).

    `name` names the route (and its OpenAPI operation id; the operation's name by default),
    `returns` is its declared answer (what FastAPI validates and documents, unless
    `response_model` says otherwise), `answer` turns the operation's answer into the body,
    and `authenticated=False` serves it without a key (the caller is None)."""
    model = request_model(operation)

    async def endpoint(request: Any, b: Any, caller: Any = None) -> Any:
        result = await operation(b, caller, request)
        return result if answer is None else answer(result)

    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [inspect.Parameter("request", keyword, annotation=model)]
    if authenticated:
        parameters.append(inspect.Parameter("caller", keyword, annotation=CallerDep))
    parameters.append(inspect.Parameter("b", keyword, annotation=backend))
    endpoint.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]
    endpoint.__doc__ = operation.__doc__
    router.add_api_route(
        path,
        endpoint,
        methods=["POST"],
        name=name or operation.__name__,
        response_model=response_model,
    )
