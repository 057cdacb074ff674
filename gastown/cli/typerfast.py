"""Typer without pydantic for the values that need no converting.

Typer 0.29 coerces every parameter through a pydantic TypeAdapter, and importing pydantic
for it costs more than a whole `gt` round trip to the daemon. Most values need nothing: a
string for a `str`, a flag's bool for a `bool`, strings for a `List[str]`. For those the
coercion here returns what the adapter would; anything else (numbers, ranges, paths,
choices, custom parsers, files) still goes to Typer's own adapter, built on first use.
Installed once by `gastown.cli.app`.
"""

from __future__ import annotations

from typing import Any, get_args, get_origin

from typer import _coercion, core

_build = _coercion.build_runtime_param


def _plain(annotation: Any, value: Any, info: Any) -> tuple[bool, Any]:
    """(True, what the adapter returns) where that is certain; (False, None) otherwise."""
    if annotation is str and type(value) is str:
        return True, value
    if annotation is bool and type(value) is bool:
        return True, value
    if annotation in (int, float) and type(value) is annotation:  # a default, inside its range if it has one
        low, high = getattr(info, "min", None), getattr(info, "max", None)
        if (low is None or value >= low) and (high is None or value <= high):
            return True, value
    if get_origin(annotation) is list and get_args(annotation) == (str,) and isinstance(value, (list, tuple)) \
            and all(type(v) is str for v in value):
        return True, list(value)
    return False, None


class _Lazy(_coercion.RuntimeParam):
    """Typer's runtime parameter, coercing plain values itself. Not a @dataclass of its own:
    building one costs ~0.5 ms at every `gt` start; the fields are set as the frozen base would."""

    descriptor: Any

    def __init__(self, descriptor: Any) -> None:
        object.__setattr__(self, "annotation", descriptor.annotation)
        object.__setattr__(self, "parameter_info", descriptor.parameter_info)
        object.__setattr__(self, "descriptor", descriptor)

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        if self.descriptor.file_annotation is None and self.parameter_info.parser is None:
            known, result = _plain(self.annotation, value, self.parameter_info)
            if known:
                return result
        return _build(self.descriptor)._coerce_value(value, param=param, ctx=ctx)


def _runtime_param(descriptor: Any) -> _coercion.RuntimeParam:
    return _Lazy(descriptor)


def install() -> None:
    setattr(core, "build_runtime_param", _runtime_param)  # noqa: B010 - typer.core looks it up by this name
