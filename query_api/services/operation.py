"""The shape every service operation has, so each face translates them all the same way.

An operation is `async (backend, caller, request, …) -> answer`: what it works over (the
alert backend, the event-rule store, the events index), who asks (None only for the one
unauthenticated method), and the validated request model; it answers the JSON of REST.
The REST routes and the gRPC servicers are built from the operation itself: the request
model is its third parameter's annotation, so it is named once, in the service.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

Operation = Callable[[Any, Any, Any], Awaitable[Any]]


def request_model(operation: Operation) -> type[BaseModel]:
    """The request model `operation` validates: the annotation of its third parameter."""
    annotation = list(inspect.signature(operation).parameters.values())[2].annotation
    if isinstance(annotation, str):  # postponed annotations: a name in the operation's module
        annotation = operation.__globals__.get(annotation, annotation)  # type: ignore[attr-defined]
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        raise TypeError(f"{operation.__qualname__}: its request is not a model ({annotation!r})")
    return annotation
