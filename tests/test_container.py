"""The podman/docker runtime: the town image, turns through `exec -d`, liveness, stop,
container death and restart, removal, and the docker CLI against `podman system service`.

Marked podman+slow; skipped only when podman is not installed (CI installs it with
scripts/install-system-deps.sh). The first run builds the base image (about a minute,
once per machine: debootstrap from apt's mirror when no registry is reachable).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from gastown import paths, runner
from gastown.host import engine
from gastown.daemon.runtime import TurnSpec, make_runtime
from gastown.daemon.runtime.container import ContainerRuntime

HAVE_PODMAN = shutil.which("podman") is not None
_seq = itertools.count(1)


# ----------------------------------------------------------------------------- no engine needed
def test_containers_conf_keeps_system_settings_and_caps_limits() -> None:
    conf = engine.containers_conf("runc", {"nofile": 20000, "nproc": 32768})
    assert conf["engine"]["runtime"] == "runc"
    assert conf["containers"]["default_ulimits"] == ["nofile=20000:20000", "nproc=32768:32768"]
    limits = engine.host_ulimits()
    assert limits["nproc"] <= int(Path("/proc/sys/kernel/pid_max").read_text())


def test_argv_and_env_are_translated_for_the_container(tmp_path: Path) -> None:
    rt = ContainerRuntime("podman", tmp_path / "towns" / "t")
    assert rt.container == "gt-t"
    assert rt.container_argv([sys.executable, "-m", "gastown.scripted"]) == ["python3", "-m", "gastown.scripted"]
    host_gt = str(Path(sys.executable).parent / "gt")
    assert rt.container_argv([host_gt, "done"]) == ["gt", "done"]
    assert rt.container_argv(["/opt/agents/bin/opencode", "run"]) == ["/opt/agents/bin/opencode", "run"]
    env = rt.container_env({"PATH": "/host/venv/bin:/usr/bin", "GT_BIN": host_gt, "GT_AGENT_TOKEN": "t",
                            "VIRTUAL_ENV": None})
    assert env == {"GT_BIN": "gt", "GT_AGENT_TOKEN": "t", "VIRTUAL_ENV": None}


def test_make_runtime_knows_the_engines(tmp_path: Path) -> None:
    assert isinstance(make_runtime("podman", tmp_path), ContainerRuntime)
    assert make_runtime("docker", tmp_path).name == "docker"
    with pytest.raises(ValueError):
        make_runtime("lxc", tmp_path)


def test_missing_engine_is_one_external_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from gastown.protocol import ErrorCode, RpcError

    engine.reset()
    monkeypatch.setenv("PATH", str(tmp_path))
    try:
        with pytest.raises(RpcError) as info:
            ContainerRuntime("podman", tmp_path).check()
        assert info.value.code == ErrorCode.EXTERNAL and "podman not found" in info.value.message
        assert "\n" not in info.value.message
    finally:
        engine.reset()


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def image() -> str:
    if not HAVE_PODMAN:
        pytest.skip("podman is not installed")
    engine.reset()
    eng = engine.detect("podman")
    eng.verify()
    return str(engine.build_image(eng, log=print)["image"])


def _town(gt_home: Path) -> Path:
    root = gt_home / "towns" / f"ct{os.getpid() % 100000}x{next(_seq)}"
    (root / "turns").mkdir(parents=True)
    (root / "worktrees" / "w").mkdir(parents=True)
    return root


@pytest.fixture
def rt(image: str, gt_home: Path) -> Iterator[ContainerRuntime]:
    current = engine.ensure_image(engine.detect("podman"))  # (sources may change while tests run)
    runtime = ContainerRuntime("podman", _town(gt_home), network="none", image=current)
    yield runtime
    runtime.remove()


def _wait(pred, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def _spec(rt: ContainerRuntime, name: str, argv: list[str], env: dict[str, str | None] | None = None,
          timeout: float | None = None) -> TurnSpec:
    return TurnSpec(turn_dir=rt.town_root / "turns" / name, argv=argv, cwd=rt.town_root / "worktrees" / "w",
                    env=env or {}, timeout=timeout)


def _host_procs_with(marker: str) -> list[int]:
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{p}/cmdline").read_bytes():
                    found.append(int(p))
            except OSError:
                pass
    return found


# ----------------------------------------------------------------------------- podman
@pytest.mark.podman
@pytest.mark.slow
def test_image_build_is_cached(image: str) -> None:
    eng = engine.detect("podman")
    for _ in range(3):  # (a source edit during the run means a new tag: build it, then it is cached)
        again = engine.build_image(eng)
        if not again["built"]:
            break
    # cached means not built again (bench_container.py prints how long the cached look takes)
    assert again["built"] is False and again["image"] == image or engine.town_image_ref() != image
    image = again["image"]
    out = subprocess.run([eng.binary, "run", "--rm", "--network=none", image, "sh", "-c",
                          "python3 --version && git --version && command -v gt && "
                          "python3 -c 'import gastown.runner, gastown.scripted, gastown.cli.tools'"],
                         env=eng.env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Python 3" in out.stdout and "/usr/local/bin/gt" in out.stdout
    assert any(d["check"] == "town image" and d["ok"] for d in engine.doctor("podman"))


@pytest.mark.podman
@pytest.mark.slow
def test_turn_runs_in_container_and_lands_on_host(rt: ContainerRuntime) -> None:
    code = ("import os, sys; open('made-inside.txt', 'w').write(os.getcwd()); "
            "print('inside', os.path.exists('/run/.containerenv'), os.environ['GT_BIN'], os.environ['PATH']); "
            "sys.exit(3)")
    spec = _spec(rt, "a/0001", [sys.executable, "-c", code],
                 env={"GT_BIN": "/host/venv/bin/gt", "PATH": "/host/venv/bin:/usr/bin", "GT_TOWN": rt.town})
    pid = rt.start_turn(spec)
    assert pid > 0 and rt.restart_count == 0
    assert _wait(lambda: not rt.is_running(spec.turn_dir))
    st = runner.read_status(spec.turn_dir)
    assert st and st["state"] == "exited" and st["exit_code"] == 3
    out = (spec.turn_dir / "output.log").read_text()
    assert "inside True gt /usr/local/sbin:" in out
    assert (spec.cwd / "made-inside.txt").read_text() == str(spec.cwd)
    assert not (spec.turn_dir / "env.json").exists()  # the turn's variables never touch the disk


@pytest.mark.podman
@pytest.mark.slow
def test_is_running_during_sleep_and_stop_turn_ends_it(rt: ContainerRuntime) -> None:
    short = _spec(rt, "a/0001", ["sleep", "1"])
    rt.start_turn(short)
    assert rt.is_running(short.turn_dir)
    assert _wait(lambda: not rt.is_running(short.turn_dir), 10)
    assert runner.read_status(short.turn_dir)["exit_code"] == 0  # type: ignore[index]

    long = _spec(rt, "a/0002", ["sleep", "300"])
    rt.start_turn(long)
    assert rt.is_running(long.turn_dir)
    rt.stop_turn(long.turn_dir, grace=2.0)  # returns long before the sleep ends (bench_container.py: how soon)
    assert not rt.is_running(long.turn_dir)
    st = runner.read_status(long.turn_dir)
    assert st and st["state"] == "exited" and st["stopped"] is True
    rt.stop_turn(long.turn_dir)  # a finished turn: nothing to do


@pytest.mark.podman
@pytest.mark.slow
def test_turn_sees_its_env_and_reaches_the_host_socket(rt: ContainerRuntime) -> None:
    sock_path = paths.runtime_dir() / "towns" / rt.town / "gt.sock"
    sock_path.parent.mkdir(parents=True, exist_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    server.listen(1)
    server.settimeout(20)
    got: list[bytes] = []

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            got.append(conn.recv(1024))
            conn.sendall(b"pong from host")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    code = ("import os, socket, subprocess; s = socket.socket(socket.AF_UNIX); s.connect(os.environ['GT_AGENT_SOCKET']); "
            "s.sendall(os.environ['GT_AGENT_TOKEN'].encode()); print(s.recv(100).decode()); "
            "print('gt at', subprocess.run(['sh', '-c', 'command -v \"$GT_BIN\"'], capture_output=True, text=True).stdout.strip()); "
            "print('leak', os.environ.get('GT_DAEMON_SECRET'))")
    os.environ["GT_DAEMON_SECRET"] = "daemon-only"  # the daemon's own env never reaches a turn
    try:
        spec = _spec(rt, "a/0001", [sys.executable, "-c", code],
                     env={"GT_AGENT_TOKEN": "tok-123", "GT_AGENT_SOCKET": str(sock_path), "GT_BIN": "/x/gt"})
        rt.start_turn(spec)
        assert _wait(lambda: not rt.is_running(spec.turn_dir))
    finally:
        os.environ.pop("GT_DAEMON_SECRET", None)
        server.close()
    thread.join(5)
    out = (spec.turn_dir / "output.log").read_text()
    assert got == [b"tok-123"], out
    assert "pong from host" in out and "gt at /usr/local/bin/gt" in out and "leak None" in out


@pytest.mark.podman
@pytest.mark.slow
def test_network_none_has_only_loopback(rt: ContainerRuntime) -> None:
    spec = _spec(rt, "a/0001", ["sh", "-c", "ls /sys/class/net"])
    rt.start_turn(spec)
    assert _wait(lambda: not rt.is_running(spec.turn_dir))
    assert (spec.turn_dir / "output.log").read_text().split() == ["lo"]


@pytest.mark.podman
@pytest.mark.slow
def test_killed_container_is_detected_and_restarted(rt: ContainerRuntime) -> None:
    spec = _spec(rt, "a/0001", ["sleep", "300"])
    rt.start_turn(spec)
    assert rt.container_alive() and rt.is_running(spec.turn_dir)
    subprocess.run([rt.engine.binary, "kill", rt.container], env=rt.engine.env, check=True,
                   capture_output=True, timeout=30)
    assert _wait(lambda: not rt.container_alive())
    assert not rt.is_running(spec.turn_dir)  # the turn died with its container
    assert rt.ensure_container() == "restarted"
    assert rt.restart_count == 1 and rt.container_alive()
    assert rt.ensure_container() == "running"
    again = _spec(rt, "a/0002", ["true"])
    rt.start_turn(again)
    assert _wait(lambda: not rt.is_running(again.turn_dir))
    assert runner.read_status(again.turn_dir)["exit_code"] == 0  # type: ignore[index]
    rt.stop_container(timeout=1)
    assert not rt.container_alive()
    assert rt.ensure_container() == "started" and rt.restart_count == 1  # a deliberate stop is no crash


@pytest.mark.podman
@pytest.mark.slow
def test_remove_leaves_no_container_and_no_process(rt: ContainerRuntime) -> None:
    marker = f"{4000 + next(_seq)}.25"
    spec = _spec(rt, "a/0001", ["sleep", marker])
    rt.start_turn(spec)
    info = rt.inspect()
    assert info and _host_procs_with(marker)
    rt.remove()  # bench_container.py prints how long it takes
    assert rt.inspect() is None
    assert _wait(lambda: not _host_procs_with(marker), 5)
    assert not _host_procs_with(info["Id"])  # no conmon left for it
    assert not rt.is_running(spec.turn_dir)


@pytest.mark.podman
@pytest.mark.slow
def test_docker_cli_through_podman_service(image: str, gt_home: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("docker") is None:
        pytest.skip("docker CLI is not installed")
    podman = engine.detect("podman")
    sock = Path(f"/tmp/gt-psvc-{os.getpid()}-{next(_seq)}.sock")
    service = subprocess.Popen([podman.binary, "system", "service", "--time=0", f"unix://{sock}"],
                               env=podman.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runtime = None
    try:
        assert _wait(sock.exists, 15), "podman system service did not start"
        monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
        engine.reset()
        current = engine.ensure_image(podman)  # same storage as the service
        runtime = ContainerRuntime("docker", _town(gt_home), network="none", image=current)
        runtime.check()
        assert runtime.engine.binary.endswith("docker")
        spec = _spec(runtime, "a/0001", [sys.executable, "-c", "import os; print('via docker', os.getcwd())"])
        runtime.start_turn(spec)
        assert _wait(lambda: not runtime.is_running(spec.turn_dir))
        assert runner.read_status(spec.turn_dir)["exit_code"] == 0  # type: ignore[index]
        assert f"via docker {spec.cwd}" in (spec.turn_dir / "output.log").read_text()
        cid = runtime.inspect()["Id"]  # type: ignore[index]
        runtime.remove()
        assert runtime.inspect() is None
        assert _wait(lambda: not _host_procs_with(cid), 10)  # API exec sessions' conmons are gone too
    finally:
        if runtime is not None:
            runtime.remove()
        service.terminate()
        service.wait(15)
        sock.unlink(missing_ok=True)
        engine.reset()


@pytest.mark.podman
@pytest.mark.slow
def test_turn_env_reaches_the_runner_without_a_file(rt: ContainerRuntime) -> None:
    spec = _spec(rt, "a/0001", ["env"], env={"GT_TOWN": "x", "HOME": "/agent-home", "PATH": "/h", "GT_HOME": None})
    rt.start_turn(spec)
    assert _wait(lambda: not rt.is_running(spec.turn_dir))
    lines = (spec.turn_dir / "output.log").read_text().splitlines()
    assert "GT_TOWN=x" in lines and "HOME=/agent-home" in lines
    assert not [ln for ln in lines if ln.startswith(("GT_TURN_ENV_", "GT_HOME=", "PATH=/h"))]
    assert not (spec.turn_dir / "env.json").exists()


@pytest.mark.podman
@pytest.mark.slow
def test_is_running_falls_back_to_exec_inside(rt: ContainerRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rt, "_probe_proc", lambda st: None)  # as when the host may not read its procfs
    spec = _spec(rt, "a/0001", ["sleep", "1"])
    rt.start_turn(spec)
    assert rt.is_running(spec.turn_dir)
    assert _wait(lambda: not rt.is_running(spec.turn_dir), 10)


@pytest.mark.podman
@pytest.mark.slow
def test_new_image_replaces_an_idle_container_but_not_a_busy_one(rt: ContainerRuntime) -> None:
    eng = rt.engine
    current = str(rt.image)
    old = f"localhost/gastown-test:old{os.getpid()}"
    eng.run("tag", current, old)
    try:
        rt.image = old
        assert rt.ensure_container() == "started"
        spec = _spec(rt, "a/0001", ["sleep", "300"])
        rt.start_turn(spec)
        rt.image = current
        assert rt.ensure_container() == "running"  # a turn runs: keep the old image for now
        rt.stop_turn(spec.turn_dir, grace=1)
        assert rt.ensure_container() == "updated"
        labels = rt.inspect()["Config"]["Labels"]  # type: ignore[index]
        assert labels["io.gastown.image"] == current and rt.restart_count == 0
    finally:
        rt.remove()
        eng.run("rmi", old, check=False)


@pytest.mark.podman
@pytest.mark.slow
def test_scripted_polecat_works_in_the_town_container(image: str, gt_home: Path) -> None:
    """The real daemon with `runtime = podman`: the scripted agent commits inside the
    container and calls `gt done` through the bind-mounted agent socket."""
    from tests.conftest import make_repo, run_gt

    town = f"ce{os.getpid() % 100000}"
    run_gt("town", "create", town, "--runtime", "podman", check=True)
    run_gt("config", "set", "container.network", "none", "--town", town, check=True)
    repo = make_repo(gt_home / "src" / "app", {"a.txt": "one\n"})
    run_gt("rig", "add", "app", str(repo), "--town", town, check=True)
    runtime = ContainerRuntime("podman", paths.town_dir(town))
    try:
        slung = json.loads(run_gt("sling", "add two", "--rig", "app", "--town", town, "--json", "--script",
                                  "echo two >> a.txt && test -f /run/.containerenv", check=True).stdout)
        end = time.monotonic() + 90
        status = ""
        while time.monotonic() < end and status not in ("in_review", "closed", "failed"):
            time.sleep(0.3)
            shown = run_gt("bead", "show", slung["id"], "--town", town, "--json", check=True).stdout
            status = json.loads(shown)["status"]
        log = paths.log_path().read_text() if paths.log_path().exists() else ""
        assert status in ("in_review", "closed"), log[-3000:]
        assert runtime.container_alive()
        wt = paths.town_dir(town) / "worktrees" / "app"
        commit = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(next(wt.iterdir())), "log", "-1", "--format=%cn|%B"],
                                capture_output=True, text=True, check=True).stdout
        assert "gastown polecat" in commit and f"Bead-ID: {slung['id']}" in commit
    finally:
        run_gt("daemon", "stop")
        runtime.remove()


@pytest.mark.podman
@pytest.mark.slow
def test_a_foreign_container_with_the_name_is_never_touched(rt: ContainerRuntime, gt_home: Path) -> None:
    from gastown.protocol import ErrorCode, RpcError

    rt.ensure_container()
    other = ContainerRuntime("podman", gt_home / "elsewhere" / rt.town, network="none", image=rt.image)
    assert other.container == rt.container
    with pytest.raises(RpcError) as info:
        other.ensure_container()
    assert info.value.code == ErrorCode.CONFLICT and str(rt.town_root) in info.value.message
    assert rt.ensure_container() == "running"
