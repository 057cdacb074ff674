"""gastown.cli.typerfast answers exactly what Typer's pydantic adapter answers, or defers to it."""

from __future__ import annotations

from typing import Any, List, Optional

import pytest
from typer import _coercion
from typer.models import OptionInfo

from gastown.cli import typerfast

CASES: list[tuple[Any, Any, dict[str, Any]]] = [
    (str, "text", {}), (str, "", {}), (Optional[str], "x", {}), (bool, True, {}), (bool, False, {}),
    (int, 2, {"min": 0, "max": 4}), (int, 9, {"min": 0, "max": 4}), (int, 2, {"min": 0, "max": 4, "clamp": True}),
    (int, 50, {}), (float, 1.5, {}), (List[str], ("a", "b"), {}), (List[str], [], {}), (int, "7", {}),
    (str, 5, {}), (bool, "yes", {}),
]


@pytest.mark.parametrize("annotation,value,info", CASES)
def test_fast_coercion_matches_the_adapter(annotation: Any, value: Any, info: dict[str, Any]) -> None:
    descriptor = _coercion.resolve_type_descriptor(annotation=annotation, parameter_info=OptionInfo(**info))
    known, fast = typerfast._plain(descriptor.annotation, value, descriptor.parameter_info)
    if not known:
        return  # deferred to the adapter: nothing to compare
    real = _coercion.build_runtime_param(descriptor)._coerce_value(value, param=None, ctx=None)  # type: ignore[arg-type]
    assert fast == real and type(fast) is type(real)


def test_plain_values_are_known() -> None:
    assert typerfast._plain(str, "x", OptionInfo()) == (True, "x")
    assert typerfast._plain(List[str], ("a",), OptionInfo()) == (True, ["a"])
    assert typerfast._plain(int, 9, OptionInfo(min=0, max=4))[0] is False  # out of range: the adapter says why
