"""Process identity on real processes: the runner's own stdlib reading of /proc agrees with
psutil (start time, zombies, gone pids), and the container runtime's cached init (a
psutil.Process) is dropped when that process dies or turns zombie."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import psutil
import pytest

from gastown import runner
from gastown.daemon.runtime.container import ContainerRuntime
from tests.helpers import wait_for

CLK_TCK = os.sysconf("SC_CLK_TCK")


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def zombie(proc: subprocess.Popen[bytes]) -> None:
    """Kill without reaping: the pid stays, as a zombie."""
    os.kill(proc.pid, 9)
    wait_for(lambda: psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE, timeout=30)


def test_the_runners_start_ticks_are_psutils_create_time(child: subprocess.Popen[bytes]) -> None:
    ticks = runner._start_time(child.pid)
    p = psutil.Process(child.pid)
    assert ticks is not None and round((p.create_time() - psutil.boot_time()) * CLK_TCK) == ticks
    assert runner._alive(child.pid, ticks, runner._boot_id())
    assert not runner._alive(child.pid, ticks + 1, None)  # same pid, another start: a reused pid
    assert not runner._alive(child.pid, ticks, "another-boot")


def test_zombies_and_gone_pids_are_dead_for_both(child: subprocess.Popen[bytes]) -> None:
    ticks = runner._start_time(child.pid)
    zombie(child)
    assert not runner._alive(child.pid, ticks, None)
    assert psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE
    child.wait()
    assert not runner._alive(child.pid, ticks, None) and not psutil.pid_exists(child.pid)


def _runtime(tmp_path: Path, pids: list[int]) -> tuple[ContainerRuntime, list[int]]:
    """A container runtime whose engine says the container runs with init `pids[-1]`."""
    rt = ContainerRuntime("podman", tmp_path, town="t")
    asked: list[int] = []

    def inspect() -> dict[str, Any]:
        asked.append(pids[-1])
        return {"State": {"Status": "running", "Pid": pids[-1]}}

    rt.inspect = inspect  # type: ignore[method-assign]
    return rt, asked


def test_the_cached_init_holds_while_it_is_that_process(tmp_path: Path, child: subprocess.Popen[bytes]) -> None:
    rt, asked = _runtime(tmp_path, [child.pid])
    assert rt._init_pid() == child.pid and rt._init_pid() == child.pid
    assert asked == [child.pid]  # the second answer came from the cache, no engine call


def test_a_dead_or_zombie_init_is_looked_up_again(tmp_path: Path, child: subprocess.Popen[bytes]) -> None:
    pids = [child.pid]
    rt, asked = _runtime(tmp_path, pids)
    assert rt._init_pid() == child.pid
    zombie(child)
    second = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        pids.append(second.pid)
        assert rt._init_pid() == second.pid and asked == [child.pid, second.pid]
        second.kill()
        second.wait()
        pids.append(0)  # the engine now says: not running
        assert rt._init_pid() is None
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()


def test_a_pid_gone_before_it_is_looked_at_is_not_ours(tmp_path: Path, child: subprocess.Popen[bytes]) -> None:
    child.kill()
    child.wait()
    rt, _ = _runtime(tmp_path, [child.pid])
    assert rt._init_pid() == -1
