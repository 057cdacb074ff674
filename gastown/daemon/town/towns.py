"""Towns on disk and in memory: each with its store, its single writer thread and config.

Layout of one town (everything it owns lives below its directory, so deleting the town
is removing one tree):
    GT_HOME/towns/<name>/town.toml        identity: name, prefix, created_at
    GT_HOME/towns/<name>/config.toml      settings (`gt config`)
    GT_HOME/towns/<name>/town.db          the store
    GT_HOME/towns/<name>/rigs/<rig>/repo.git, config.toml
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tomllib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ParamSpec, TypeVar

import tomli_w

from gastown import paths
from gastown.daemon.town import config
from gastown.daemon.store import Store, ids
from gastown.protocol import ErrorCode, RpcError

T = TypeVar("T")
P = ParamSpec("P")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def check_name(kind: str, name: str) -> str:
    if not NAME_RE.match(name):
        raise RpcError(
            ErrorCode.INVALID_PARAMS,
            f"invalid {kind} name '{name}': use 1-40 lowercase letters, digits, '-' or '_', starting with a letter or digit",
        )
    return name


class Town:
    def __init__(self, name: str, root: Path, meta: dict[str, Any]) -> None:
        self.name = name
        self.root = root
        self.meta = meta
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"town-{name}")
        self.store: Store = self.executor.submit(
            lambda: Store(root / "town.db", meta["prefix"])).result()
        # A second connection, used only on the event-loop thread for hot single-bead reads
        # (`bead.show`, the agents' tool path): WAL readers see committed data and never
        # wait for the writer, and the read skips the hop onto the writer thread.
        self.reader = Store(root / "town.db", meta["prefix"], read_only=True)
        self.rigs_in_flight: set[str] = set()
        self.on_write: Callable[["Town"], None] | None = None  # set by the daemon: wakes subscribers
        self.published_seq = self.store.last_seq

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store method on this town's writer thread; anything it wrote reaches event
        subscribers at once (whoever made the call: a client, the loop, the refinery). Typed
        with the function's own parameters, so mypy checks every call site's arguments."""
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))
        if self.on_write is not None and self.store.last_seq != self.published_seq:
            self.published_seq = self.store.last_seq
            self.on_write(self)
        return result

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    def rig_dir(self, rig: str) -> Path:
        return self.root / "rigs" / rig

    def config(self, key: str, rig: str | None = None) -> tuple[Any, str]:
        rig_cfg = config.load_or_empty(self.rig_dir(rig) / "config.toml") if rig else None
        return config.resolve(key, config.load_or_empty(self.config_path), rig_cfg)

    # Typed reads of one setting (rig -> town -> default), so call sites say what they expect
    # and mypy checks what they do with it; the kind must be the registry's (config.typed).
    def text(self, key: str, rig: str | None = None) -> str:
        return config.typed(key, self.config(key, rig)[0], str)

    def number(self, key: str, rig: str | None = None) -> float:
        return config.typed(key, self.config(key, rig)[0], float)

    def whole(self, key: str, rig: str | None = None) -> int:
        return config.typed(key, self.config(key, rig)[0], int)

    def flag(self, key: str, rig: str | None = None) -> bool:
        return config.typed(key, self.config(key, rig)[0], bool)

    def items(self, key: str, rig: str | None = None) -> list[Any]:
        return config.typed(key, self.config(key, rig)[0], list)

    def table(self, key: str, rig: str | None = None) -> dict[str, Any]:
        return config.typed(key, self.config(key, rig)[0], dict)

    def config_problems(self, rigs: list[str]) -> list[str]:
        """What is wrong in the town's and its rigs' settings files (hand edits)."""
        out = config.problems(self.config_path)
        for rig in rigs:
            out += config.problems(self.rig_dir(rig) / "config.toml", rig=True)
        return out

    def info(self) -> dict[str, Any]:
        return {
            "id": self.name,
            "name": self.name,
            "prefix": self.meta["prefix"],
            "created_at": self.meta["created_at"],
            "runtime": self.text("runtime"),
            "path": str(self.root),
        }

    def close(self) -> None:
        self.reader.close()
        self.executor.submit(self.store.close).result()
        self.executor.shutdown(wait=True)


def _remove_tree(root: Path) -> None:
    """rmtree that tolerates entries vanishing while it walks (a stopped turn's runner or a
    worktree cleanup finishing at the same moment); anything else still fails."""
    def gone_already(func: Any, path: str, exc_info: Any) -> None:
        if not isinstance(exc_info[1], FileNotFoundError):
            raise exc_info[1]

    shutil.rmtree(root, onerror=gone_already)


class Towns:
    """The registry of towns: the directories under GT_HOME/towns."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or paths.towns_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.open: dict[str, Town] = {}

    def names(self) -> list[str]:
        return sorted(p.parent.name for p in self.root.glob("*/town.toml"))

    def create(self, name: str, *, prefix: str | None = None, runtime: str = "local",
               agent: str | None = None) -> Town:
        check_name("town", name)
        if (self.root / name / "town.toml").exists():
            raise RpcError(ErrorCode.ALREADY_EXISTS, f"town '{name}' already exists")
        prefix = (prefix or ids.default_prefix(name)).lower()
        if not ids.PREFIX_RE.match(prefix):
            raise RpcError(ErrorCode.INVALID_PARAMS, f"invalid bead prefix '{prefix}': 1-8 letters/digits, starting with a letter")
        if runtime not in ("local", "podman", "docker"):
            raise RpcError(ErrorCode.INVALID_PARAMS, f"unknown runtime '{runtime}': use local, podman or docker")
        root = self.root / name
        root.mkdir(parents=True, exist_ok=True)
        created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        settings: dict[str, Any] = {"runtime": runtime}
        if agent:
            config.check_type("agent.adapter", agent)
            settings["agent"] = {"adapter": agent}
        (root / "config.toml").write_text(tomli_w.dumps(settings))
        # town.toml last: its presence is what makes the directory a town
        (root / "town.toml").write_text(tomli_w.dumps({"name": name, "prefix": prefix, "created_at": created}))
        return self.get(name)

    def get(self, name: str) -> Town:
        town = self.open.get(name)
        if town is not None:
            return town
        meta_path = self.root / name / "town.toml"
        if not NAME_RE.match(name) or not meta_path.exists():
            raise RpcError(ErrorCode.NOT_FOUND, f"no town '{name}' (see 'gt town list')")
        town = Town(name, self.root / name, tomllib.loads(meta_path.read_text()))
        self.open[name] = town
        return town

    def resolve(self, name: str | None) -> Town:
        """The named town, or the only town when none is named."""
        if name:
            return self.get(name)
        names = self.names()
        if len(names) == 1:
            return self.get(names[0])
        if not names:
            raise RpcError(ErrorCode.NOT_FOUND, "no town yet: create one with 'gt town create NAME'")
        raise RpcError(ErrorCode.INVALID_PARAMS, f"several towns ({', '.join(names)}): pass --town or set GT_TOWN")

    def delete(self, name: str) -> dict[str, Any]:
        town = self.get(name)
        info = town.info()
        self.open.pop(name, None)
        town.close()
        _remove_tree(town.root)
        return info

    def close_all(self) -> None:
        for town in list(self.open.values()):
            town.close()
        self.open.clear()
