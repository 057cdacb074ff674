"""Building the town image from the CLI with visible progress (`gt image build`, `gt town
create`): phases and each build STEP n/m as a rich progress bar on a terminal, one plain line
per phase and step otherwise, nothing with `--quiet`. The build runs in the CLI process itself
(the engine is on this host), so its output streams straight to the user."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from gastown.cli.common import err
from gastown.protocol import ErrorCode, RpcError

if TYPE_CHECKING:
    from gastown.host.image import ImageSpec


def spec_of(info: dict[str, Any]) -> ImageSpec:
    """A town's image spec as the daemon read it from the town's settings (`town.show`'s `image`)."""
    from gastown.host.image import ImageSpec

    image = info.get("image") or {}
    if "problem" in image:
        raise RpcError(ErrorCode.INVALID_STATE, str(image["problem"]))
    return ImageSpec(base=str(image.get("base") or ""), setup=tuple(str(c) for c in image.get("setup") or ()))


def build(eng: Any, *, quiet: bool = False, **kwargs: Any) -> dict[str, Any]:
    """image.build_image(eng, **kwargs) reporting progress on stderr."""
    from gastown.host import image

    if quiet:
        return image.build_image(eng, **kwargs)
    if not err.is_terminal:
        return image.build_image(eng, progress=_plain(), **kwargs)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err.rich, transient=False) as bar:
        task = bar.add_task("preparing the town image", total=None)

        def tell(event: dict[str, Any]) -> None:
            if "step" in event:
                bar.update(task, total=event["steps"], completed=event["step"] - 1,
                           description=f"step {event['step']}/{event['steps']}: {event['text'][:60]}")
            elif "phase" in event:
                bar.update(task, description=str(event["phase"])[:90])

        result = image.build_image(eng, progress=tell, **kwargs)
        final = bar.tasks[0].total or 1
        bar.update(task, total=final, completed=final,
                   description="image ready" if result["built"] else "image up to date")
    return result


def _plain() -> Any:
    t0 = time.monotonic()

    def tell(event: dict[str, Any]) -> None:
        if "step" in event:
            err.print(f"[{time.monotonic() - t0:5.1f}s] step {event['step']}/{event['steps']}: {event['text']}",
                      markup=False)
        elif "phase" in event:
            err.print(f"[{time.monotonic() - t0:5.1f}s] {event['phase']}", markup=False)
    return tell
