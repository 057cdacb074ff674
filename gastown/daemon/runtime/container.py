"""The `podman` and `docker` runtimes: one long-lived container per town, turns started in it
with `<engine> exec -d` (same code for both engines, only the binary differs).

The container (`gt-<town>`, `run -d --init ... sleep infinity`) bind-mounts, at the SAME
absolute paths: the town directory (worktrees, turns, agent homes, the rig clones the
worktrees point into), the directory holding the town's agent socket (a directory, so a
daemon restart's new socket shows up), the agent CLI cache (read-only) and the host CA
bundle (read-only). So every path the daemon computes is valid inside and the turn runner
writes `status.json`/`output.log` straight into the host's turn directory.

Liveness: `status.json` saying "exited" is final. While it says "running", the recorded pid
is a pid of the container's pid namespace; it is checked through `/proc/<init>/root/proc`
(the container's own procfs, no process spawned) and, where the host may not look there
(docker as a non-root user), with `exec python3 -c 'runner.is_running(...)'` inside. The init
itself is a host process, held as a `psutil.Process` (pid and start time, so a reused pid is
not taken for it); the turn's pid belongs to the container's namespace, whose procfs psutil
cannot be pointed at per call, so that one line of `stat` is read by hand.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from gastown import paths, runner
from gastown.host import engine as engines
from gastown.host import image as images
from gastown.daemon.runtime import agentuids, townimage
from gastown.daemon.runtime.base import TurnSpec
from gastown.daemon.vcs.gates import TAIL, Gate, GateRunner
from gastown.protocol import ErrorCode, RpcError

NETWORKS = ("bridge", "none", "host")
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
LABEL = "io.gastown"
STARTUP_WAIT = 15.0
# Every capability dropped, no privilege gained through setuid binaries: an agent that is
# root inside its container can still not mount, trace other processes, or change owners.
HARDENING_ARGS = ("--cap-drop=all", "--security-opt", "no-new-privileges")
HARDENING = "1"  # bumped when HARDENING_ARGS change: an idle container is recreated with them
ENV_PREFIX = "GT_TURN_ENV_"  # turn variables ride the engine's environment under this prefix
_PROBE = "import sys; from gastown import runner; sys.exit(0 if runner.is_running(sys.argv[1]) else 3)"
_STOP = "import sys; from gastown import runner; runner.stop(sys.argv[1], grace=float(sys.argv[2]))"
_BUSY = """
import os, sys
me = str(os.getpid())
for p in os.listdir('/proc'):
    if p.isdigit() and p != me:
        try:
            if b'gastown.runner' in open(f'/proc/{p}/cmdline', 'rb').read():
                sys.exit(3)
        except OSError:
            pass
"""


def agent_cache() -> Path:
    env = os.environ.get("GT_AGENT_CACHE")
    return Path(env) if env else engines.REPO / ".cache" / "agents"


def _town_network(town_root: Path) -> str:
    return _town_setting(town_root, "container.network")


def _town_setting(town_root: Path, key: str) -> str:
    from gastown.daemon.town import config

    return str(config.resolve(key, config.load_or_empty(town_root / "config.toml"))[0])


class ContainerRuntime:
    """Runtime for one town. Engine problems surface as RpcError(EXTERNAL) from `check()`
    and from any call that needs the engine; constructing one never touches the engine."""

    has_container = True

    def __init__(self, engine: str = "podman", town_root: Path | str | None = None, *,
                 town: str | None = None, network: str | None = None, image: str | None = None,
                 container: str | None = None, socket_dir: Path | None = None) -> None:
        if town_root is None:
            raise ValueError("ContainerRuntime needs the town directory")
        self.name = engine
        self.town_root = Path(town_root).absolute()
        self.town = town or self.town_root.name
        self.container = container or f"gt-{self.town}"
        self.network = network
        self.image = image
        self.socket_dir = socket_dir
        self.restart_count = 0
        self._seen_alive = False
        self._stopped_by_us = False
        self._init: psutil.Process | None = None  # the container's init on the host (pid + start time)
        self._users: set[int] = set()  # agent uids with a passwd entry in the running container
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ engine and config
    @property
    def engine(self) -> engines.Engine:
        return engines.detect(self.name)

    def _network(self) -> str:
        net = self.network or _town_network(self.town_root)
        if net not in NETWORKS:
            raise RpcError(ErrorCode.INVALID_PARAMS, f"container.network '{net}' is not one of {', '.join(NETWORKS)}")
        return net

    def _socket_dir(self) -> Path:
        # this town's own socket directory (turns.agent_socket): never every town's
        return self.socket_dir or paths.runtime_dir() / "towns" / self.town

    def check(self) -> None:
        self.engine.verify()
        self._network()

    # ------------------------------------------------------------------ the town container
    def inspect(self) -> dict[str, Any] | None:
        proc = self.engine.run("container", "inspect", self.container, check=False)
        if proc.returncode != 0:
            return None
        data = json.loads(proc.stdout or "[]")
        return data[0] if data else None

    def container_alive(self) -> bool:
        st = self.inspect()
        return bool(st and st.get("State", {}).get("Status") == "running")

    def ensure_container(self) -> str:
        """Start the town container when missing or not running. Returns 'running' (it was),
        'started', 'restarted' (it had died: restart_count grows) or 'updated' (new image)."""
        with self._lock:
            info = self.inspect()
            labels = ((info or {}).get("Config") or {}).get("Labels") or {}
            owner = labels.get(f"{LABEL}.root")
            if info and owner != str(self.town_root):  # never touch a container that is not ours
                whose = f"town directory {owner}" if owner else "someone else (no gastown label)"
                raise RpcError(ErrorCode.CONFLICT, f"container {self.container} belongs to {whose}; "
                                                   f"remove it (`{self.name} rm -f {self.container}`) or rename the town")
            image = self.image or images.ensure_image(self.engine, townimage.spec_for_town(self.town_root))
            running = bool(info and info.get("State", {}).get("Status") == "running")
            if running and ((labels.get(f"{LABEL}.image") == image and labels.get(f"{LABEL}.hardening") == self._protection_label())
                            or self._busy()):
                self._seen_alive = True
                return "running"
            died = not running and self._seen_alive and not self._stopped_by_us
            if info:
                self.engine.run("rm", "-f", *self._rm_time(), self.container, timeout=60)
            self._start(image)
            self._stopped_by_us = False
            self._seen_alive = True
            if died:
                self.restart_count += 1
                return "restarted"
            return "updated" if running else "started"

    def _busy(self) -> bool:
        """A turn runner is alive inside (then an outdated image is kept until it is idle).
        When in doubt (the probe failed), busy: recreating would kill running turns."""
        return self.engine.run("exec", self.container, "python3", "-c", _BUSY, check=False).returncode != 0

    def _rm_time(self) -> list[str]:
        return ["-t", "2"] if self.name == "podman" else []

    def _mounts(self) -> list[tuple[Path, str]]:
        socket_dir = self._socket_dir()
        socket_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        mounts = [(self.town_root, "rw"), (socket_dir, "rw")]
        if agent_cache().is_dir():
            mounts.append((agent_cache().absolute(), "ro"))
        if CA_BUNDLE.exists():
            mounts.append((CA_BUNDLE, "ro"))
        return mounts

    def _protected(self) -> list[tuple[str, Path, str]]:
        """(source, target, mode) mounted over parts of the town directory: the store and the
        settings (gates are commands the host runs) hidden behind /dev/null, every rig clone's
        `config` and `hooks/` read-only (no planted hook or fsmonitor). Computed at container
        start; `_protection_label` makes an idle container restart when the set changes."""
        out: list[tuple[str, Path, str]] = []
        root = self.town_root
        for name in ("town.db", "town.db-wal", "town.db-shm", "config.toml", "town.toml"):
            if (root / name).is_file():
                out.append(("/dev/null", root / name, "ro"))
        for rig in sorted((root / "rigs").glob("*")) if (root / "rigs").is_dir() else []:
            if (rig / "config.toml").is_file():
                out.append(("/dev/null", rig / "config.toml", "ro"))
            clone = rig / "repo.git"
            for part in ("config", "hooks"):
                if (clone / part).exists():
                    out.append((str(clone / part), clone / part, "ro"))
        return out

    def _protection_label(self) -> str:
        """Changes when the protected set, the uid mode or a protected file itself changes (a
        file rewritten on the host is a new inode: the container's mount still shows the old)."""
        import hashlib

        def inode(path: str) -> int:
            try:
                return os.stat(path).st_ino
            except OSError:
                return 0

        text = "\n".join(f"{src}>{dst}:{mode}:{inode(src) if src != '/dev/null' else ''}"
                         for src, dst, mode in self._protected())
        text += f"\nuids={self.agent_uids()}"
        return HARDENING + "-" + hashlib.sha256(text.encode()).hexdigest()[:12]

    def _start(self, image: str) -> None:
        args = ["run", "-d", "--init", "--pull=never", "--name", self.container, "--hostname", self.container,
                "--security-opt", "label=disable", *HARDENING_ARGS, "--label", f"{LABEL}.hardening={self._protection_label()}",
                "--label", f"{LABEL}.town={self.town}", "--label", f"{LABEL}.root={self.town_root}",
                "--label", f"{LABEL}.image={image}"]
        net = self._network()
        if net != "bridge":  # bridge: the engine's default network
            args += ["--network", net]
        for path, mode in self._mounts():
            args += ["-v", f"{path}:{path}:{mode}"]
        for src, dst, mode in self._protected():
            args += ["-v", f"{src}:{dst}:{mode}"]
        self._init = None
        self._users = set()
        try:
            self.engine.run(*args, image, "sleep", "infinity", timeout=120)
        except RpcError:
            self.engine.images.discard(image)  # e.g. removed by hand: the next start rebuilds
            raise

    def stop_container(self, timeout: float = 5.0) -> None:
        """Stop the container (turns in it end); the next turn starts it again (not a restart)."""
        with self._lock:
            self._stopped_by_us = True
            self._init = None
            self.engine.run("stop", "-t", str(int(timeout)), self.container, check=False, timeout=timeout + 60)

    def remove(self, town: str | None = None) -> None:
        """Remove the town's container (default: this one) and everything running in it."""
        with self._lock:
            name = f"gt-{town}" if town else self.container
            self.engine.run("rm", "-f", *self._rm_time(), name, check=False, timeout=60)
            if name == self.container:
                self._init, self._seen_alive, self._stopped_by_us = None, False, True

    # ------------------------------------------------------------------ turns
    def container_argv(self, argv: list[str]) -> list[str]:
        """Host-specific first words: the daemon's interpreter becomes the image's python3,
        the host's `gt` becomes the image's `gt`."""
        if not argv:
            return argv
        first = argv[0]
        if first == sys.executable or _same_file(first, sys.executable):
            return ["python3", *argv[1:]]
        if Path(first).name == "gt" and Path(first).parent == Path(sys.executable).parent:
            return ["gt", *argv[1:]]
        return list(argv)

    def container_env(self, env: dict[str, str | None]) -> dict[str, str | None]:
        """Only the turn's own variables; PATH and PYTHONPATH stay the image's; GT_BIN is `gt`."""
        out = {k: v for k, v in env.items() if k not in ("PATH", "PYTHONPATH", "PYTHONHOME")}
        if out.get("GT_BIN"):
            out["GT_BIN"] = "gt"
        return out

    def _exec_user(self) -> list[str]:
        # docker containers run as root on the host; files in the town dir must stay the user's
        if self.name == "docker" and os.getuid() != 0:
            return ["--user", f"{os.getuid()}:{os.getgid()}"]
        return []

    def agent_uids(self) -> bool:
        """Each agent runs as a uid of its own (gastown.daemon.runtime.agentuids)."""
        return agentuids.available()

    def _turn_user(self, turn_dir: Path) -> list[str]:
        """Whoever runs the turn (its directory's owner) is the one who may signal or read it."""
        try:
            uid = os.stat(turn_dir).st_uid
        except OSError:
            return self._exec_user()
        return ["--user", f"{uid}:{agentuids.gid()}"] if uid > agentuids.BASE else self._exec_user()

    def _ensure_user(self, uid: int, home: Path) -> None:
        """A passwd entry for the uid (tools ask who they are: node's os.userInfo, ssh, git)."""
        if uid in self._users:
            return
        script = ('grep -q "^$1:" /etc/passwd || echo "$1:x:$2:$3:gastown agent:$4:/bin/sh" >> /etc/passwd; '
                  'grep -q "^gt-agents:" /etc/group || echo "gt-agents:x:$3:" >> /etc/group')
        self.engine.run("exec", self.container, "sh", "-c", script, "sh", f"gt-{uid - agentuids.BASE}", str(uid),
                        str(agentuids.gid()), str(home), timeout=60)
        self._users.add(uid)

    def _agent_user(self, spec: TurnSpec, env: dict[str, str | None]) -> list[str]:
        """Hand the turn's paths to the agent's uid; the `exec --user` flags (none when agents
        share the container's user). Runs before the container is (re)started: the clone's
        shared-repository setting must be in the config the container mounts."""
        name = spec.env.get("GT_AGENT")
        if not self.agent_uids() and _town_setting(self.town_root, "sandbox") == "required":
            raise RpcError(ErrorCode.EXTERNAL, "sandbox required but unavailable: the daemon is not root, so the "
                                               "agents of this container town would share one uid")
        if not self.agent_uids() or not name:
            return self._exec_user()
        home_env = spec.env.get("HOME")
        home = Path(home_env) if home_env else None
        uid = agentuids.prepare_turn(self.town_root, name, turn_dir=Path(spec.turn_dir).absolute(), home=home,
                                     cwd=Path(spec.cwd).absolute())
        if home is not None and self.town_root in home.parents:
            env["TMPDIR"] = str((home.parent if home.parent.name == name else home) / "tmp")
        sock = self._socket_dir() / "gt.sock"
        if sock.exists():
            agentuids.share_socket(sock)
        self.ensure_container()
        self._ensure_user(uid, home or Path("/"))
        return ["--user", f"{uid}:{agentuids.gid()}"]

    def start_turn(self, spec: TurnSpec) -> int:
        turn_dir = Path(spec.turn_dir).absolute()
        turn_dir.mkdir(parents=True, exist_ok=True)
        turn_env = self.container_env(dict(spec.env))
        user = self._agent_user(spec, turn_env)
        self.ensure_container()
        if self.is_running(turn_dir):
            raise RuntimeError(f"a turn is already running in {turn_dir}")
        (turn_dir / runner.STATUS).unlink(missing_ok=True)
        # the turn's variables (its token among them) reach the runner through the engine's own
        # environment (`exec -e NAME` takes the value from there): never a file, never argv
        env = {ENV_PREFIX + k: v for k, v in turn_env.items() if v is not None}
        env_flags = [flag for name in sorted(env) for flag in ("-e", name)]
        cmd = runner.spawn_command(turn_dir, self.container_argv(list(spec.argv)), Path(spec.cwd).absolute(),
                                   None, spec.timeout, python="python3", detach=False, env_prefix=ENV_PREFIX)
        log = turn_dir / runner.RUNNER_LOG  # the runner's own diagnostics, as with the local runtime
        self.engine.run("exec", "-d", *user, *env_flags, "--workdir", "/", self.container,
                        "sh", "-c", 'exec "$@" >>"$0" 2>&1', str(log), *cmd, timeout=60, env=env)
        end = time.monotonic() + STARTUP_WAIT
        while time.monotonic() < end:
            st = runner.read_status(turn_dir)
            if st and isinstance(st.get("runner_pid"), int):
                return int(st["runner_pid"])
            time.sleep(0.01)
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        raise RuntimeError(f"turn runner wrote no status in {self.container}: {tail[0] if tail else 'no output'}")

    def gate_runner(self) -> GateRunner | None:
        return self.run_gate  # gates run in the town container, like the agents' turns

    def run_gate(self, gate: Gate, cwd: Path) -> dict[str, Any]:
        """A refinery gate inside the town container (where the rig's toolchain is), in `cwd`
        (a merge worktree under the town directory), with the image's environment minus
        gastown's PYTHONPATH. The gate's timeout is enforced inside (`timeout`: exit 124)."""
        if not self.agent_uids() and _town_setting(self.town_root, "sandbox") == "required":
            return {"name": gate.name, "cmd": gate.cmd, "exit_code": 126, "timed_out": False, "duration_s": 0.0,
                    "output_tail": "sandbox required but unavailable: the daemon is not root, so this gate would "
                                   "share the agents' uid", "ran_in": "nowhere"}
        user, env_flags, gate_user = self._exec_user(), [], None
        if self.agent_uids():  # the gates' own uid, a fresh home: no agent's files, nothing left from the last gate
            gate_user = agentuids.prepare_gate(self.town_root, Path(cwd).absolute())
            user = ["--user", f"{gate_user[0]}:{agentuids.gid()}"]
            env_flags = ["-e", f"HOME={gate_user[1]}", "-e", f"TMPDIR={gate_user[1]}/tmp"]
        self.ensure_container()
        if gate_user is not None:
            self._ensure_user(*gate_user)
        image = self.image_ref()
        start = time.monotonic()
        script = 'cd "$1" && exec timeout -k 5 "$2" sh -c "$3" 2>&1'
        proc = self.engine.run("exec", *user, *env_flags, self.container, "env", "-u", "PYTHONPATH", "sh", "-c",
                               script, "gate", str(cwd), f"{gate.timeout:g}", gate.cmd, check=False,
                               timeout=gate.timeout + 60)
        timed_out = proc.returncode in (124, 137) and time.monotonic() - start >= gate.timeout
        return {"name": gate.name, "cmd": gate.cmd, "exit_code": 124 if timed_out else proc.returncode,
                "timed_out": timed_out, "duration_s": round(time.monotonic() - start, 3),
                "output_tail": (proc.stdout + proc.stderr)[-TAIL:], "ran_in": f"container {self.container}",
                "image": image}

    def image_ref(self) -> str | None:
        """The image the town container runs (its label), None when there is no container."""
        labels = (((self.inspect() or {}).get("Config") or {}).get("Labels") or {})
        return labels.get(f"{LABEL}.image")

    def is_running(self, turn_dir: Path) -> bool:
        st = runner.read_status(Path(turn_dir))
        if not st or st.get("state") != "running":
            return False
        seen = self._probe_proc(st)
        if seen is not None:
            return seen
        proc = self.engine.run("exec", *self._turn_user(Path(turn_dir)), self.container, "python3", "-c", _PROBE,
                               str(turn_dir), check=False)
        if proc.returncode in (0, 3):
            return proc.returncode == 0
        if not self.container_alive():
            return False
        raise engines.external(f"{self.name} exec in {self.container}: {proc.stderr.strip() or proc.returncode}")

    def _probe_proc(self, st: dict[str, Any]) -> bool | None:
        """Through the container's procfs from the host: True/False, None when we may not look."""
        init = self._init_pid()
        if init is None:
            return False  # the container is gone: so is every turn in it
        if init < 0:
            return None
        pid = st.get("runner_pid")
        if not isinstance(pid, int) or pid <= 0:
            return False
        try:
            raw = Path(f"/proc/{init}/root/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return False
        except (PermissionError, OSError):
            return None
        fields = raw[raw.rfind(")") + 2:].split()
        return fields[0] not in "ZX" and st.get("runner_start") in (None, int(fields[19]))

    def _init_pid(self) -> int | None:
        """Host pid of the container's init (cached while it is the same process); None when
        the container is not running, -1 when its procfs cannot be read from here."""
        if self._init is not None and _same_process(self._init):
            return int(self._init.pid)
        info = self.inspect()
        state = (info or {}).get("State") or {}
        pid = int(state.get("Pid") or 0)
        if state.get("Status") != "running" or pid <= 0:
            self._init = None
            return None
        try:
            init = psutil.Process(pid)
        except psutil.Error:
            init = None
        if init is None or not _same_file(f"/proc/{pid}/root{self.town_root}", str(self.town_root)):
            self._init = None  # not a process of this host (remote engine) or not ours to look at
            return -1
        self._init = init
        return pid

    def stop_turn(self, turn_dir: Path, grace: float = 5.0) -> None:
        st = runner.read_status(Path(turn_dir))
        if not st or st.get("state") != "running" or not self.container_alive():
            return
        self.engine.run("exec", *self._turn_user(Path(turn_dir)), self.container, "python3", "-c", _STOP, str(turn_dir),
                        str(grace), check=False, timeout=grace + 30)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _same_process(proc: psutil.Process) -> bool:
    """Still that very process (psutil compares the pid's start time: a reused pid is not it)
    and not a zombie waiting to be reaped."""
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False
