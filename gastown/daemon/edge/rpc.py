"""The method registry: handlers declare their params as keyword-only, typed arguments,
and the dispatcher checks names and types from the signature before calling.

That keeps "wrong params" errors uniform (one clear line naming the param) without a
hand-written validator per method.
"""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Union

from gastown.protocol import MAX_INT, ErrorCode, RpcError

Handler = Callable[..., Awaitable[Any]]


@dataclass
class Method:
    name: str
    fn: Handler
    town: bool  # takes an optional `town` param, resolved to a Town before the call
    hints: dict[str, Any]
    required: frozenset[str]
    optional: frozenset[str]
    roles: frozenset[str] = field(default_factory=frozenset)


REGISTRY: dict[str, Method] = {}


def rpc(name: str, *, town: bool = True) -> Callable[[Handler], Handler]:
    """Register `async def handler(ctx, [town,] *, param: type = default)` under `name`."""

    def deco(fn: Handler) -> Handler:
        sig = inspect.signature(fn)
        hints = typing.get_type_hints(fn)
        kw = [p for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        REGISTRY[name] = Method(
            name=name,
            fn=fn,
            town=town,
            hints={p.name: hints.get(p.name, Any) for p in kw},
            required=frozenset(p.name for p in kw if p.default is inspect.Parameter.empty),
            optional=frozenset(p.name for p in kw if p.default is not inspect.Parameter.empty),
        )
        return fn

    return deco


def check_params(method: Method, params: dict[str, Any]) -> dict[str, Any]:
    allowed = method.required | method.optional | ({"town"} if method.town else set())
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"{method.name}: unknown param(s) {', '.join(unknown)}")
    missing = sorted(method.required - set(params))
    if missing:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"{method.name}: missing param(s) {', '.join(missing)}")
    if method.town and params.get("town") is not None and not isinstance(params["town"], str):
        raise RpcError(ErrorCode.INVALID_PARAMS, f"{method.name}: 'town' must be a string")
    for name, value in params.items():
        if name in method.hints and not _matches(value, method.hints[name]):
            raise RpcError(
                ErrorCode.INVALID_PARAMS,
                f"{method.name}: '{name}' must be {_describe(method.hints[name])}, not {type(value).__name__}",
            )
    return params


def _matches(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:  # and fits SQLite's 64 bits: a bigger one would fail deep in a query
        return isinstance(value, int) and not isinstance(value, bool) and -MAX_INT - 1 <= value <= MAX_INT
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= MAX_INT
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if origin is list:
        return "a list"
    if origin is dict:
        return "an object"
    return {str: "a string", int: "a 64-bit integer", bool: "a boolean", float: "a number"}.get(hint, str(hint))
