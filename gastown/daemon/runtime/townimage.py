"""A town's image spec from its settings: what the daemon builds a container town's image from,
and what `town.show` hands the CLI for `gt image build --town` (the build itself is
`gastown.host.image`: no settings there)."""

from __future__ import annotations

from pathlib import Path

from gastown.daemon.town import config
from gastown.host.image import ImageSpec


def spec_for_town(root: Path) -> ImageSpec:
    """The town's `container.base` and `container.setup`, plus each rig's `container.setup`
    (rigs in name order; a command given twice runs once): one container serves all rigs."""
    town_cfg = config.load(root / "config.toml")
    base = str(config.get_dotted(town_cfg, "container.base") or "")
    setup: list[str] = [str(c) for c in config.get_dotted(town_cfg, "container.setup") or []]
    for rig_cfg in sorted((root / "rigs").glob("*/config.toml")):
        for cmd in config.get_dotted(config.load(rig_cfg), "container.setup") or []:
            if str(cmd) not in setup:
                setup.append(str(cmd))
    return ImageSpec(base=base, setup=tuple(setup))
