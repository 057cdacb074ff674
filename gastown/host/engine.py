"""Container engines: detection (podman first, then docker), the generated `containers.conf`,
and the base of the town image (the town image itself: gastown.host.image).

Host facts that shape this (docs/containers.md): rootful podman refuses ulimits above the
host's hard limits, crun fails on cgroup v1/hybrid hosts (runc works), and where no image
registry is reachable the base image is built with debootstrap from apt's own mirror. The
generated `containers.conf` is passed through `CONTAINERS_CONF` on every podman call, so
nothing under /etc is edited.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import resource
import shutil
import subprocess
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

import gastown
from gastown.protocol import ErrorCode, RpcError

PACKAGE = Path(gastown.__file__).resolve().parent
REPO = PACKAGE.parent
CONTAINER_DIR = REPO / "container"
TOWN_IMAGE = "localhost/gastown-town"
SUITE = "bookworm"
BASE_LOCAL = f"localhost/gastown-base:{SUITE}"
BASE_REGISTRY = f"docker.io/library/debian:{SUITE}-slim"
ENGINES = ("podman", "docker")
PULL_TIMEOUT = 180.0
INSTALL_HINT = ("install podman (`sudo scripts/install-system-deps.sh`, or apt-get install podman runc "
                "catatonit) or docker, or set `gt config set runtime local`")
SYSTEM_CONFS = ("/usr/share/containers/containers.conf", "/etc/containers/containers.conf")

Log = Callable[[str], None]


def cache_dir() -> Path:
    """Machine-level cache (independent of GT_HOME): `GT_CACHE_DIR`, else XDG cache/gastown."""
    env = os.environ.get("GT_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "gastown"


def external(message: str) -> RpcError:
    return RpcError(ErrorCode.EXTERNAL, message.strip().splitlines()[0] if message.strip() else "engine failed")


# ----------------------------------------------------------------------------- host facts
def cgroup_mode() -> str:
    """'v2' (unified), 'hybrid' (v1 controllers plus a cgroup2 mount) or 'v1'."""
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return "v2"
    try:
        mounts = Path("/proc/self/mounts").read_text()
    except OSError:
        return "v1"
    return "hybrid" if any(line.split()[2:3] == ["cgroup2"] for line in mounts.splitlines()) else "v1"


def oci_runtime_choice() -> tuple[str | None, str]:
    """(runtime to force or None for the engine's default, why)."""
    mode = cgroup_mode()
    if mode == "v2":
        return None, "cgroup v2: the engine's default OCI runtime works"
    if shutil.which("runc"):
        return "runc", f"cgroup {mode}: crun fails here ('cgroups in hybrid mode not supported'), using runc"
    return None, f"cgroup {mode} and no runc: crun will likely fail; install runc"


def host_ulimits() -> dict[str, int]:
    """Hard limits of this process: podman's defaults (nofile 1048576) exceed them on some VMs,
    and root without CAP_SYS_RESOURCE cannot raise them ('setrlimit: Operation not permitted').
    Podman also lowers its own nproc to the kernel's pid_max (measured: hard 96365, pid_max
    32768 -> podman runs with 32768 and anything above fails with 'rlimit type 6')."""
    out = {}
    for name, res in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        hard = resource.getrlimit(res)[1]
        if hard != resource.RLIM_INFINITY:
            out[name] = int(hard)
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
        out["nproc"] = min(out.get("nproc", pid_max), pid_max)
    except (OSError, ValueError):
        pass
    return out


def containers_conf(runtime: str | None, ulimits: dict[str, int]) -> dict[str, Any]:
    """The system's containers.conf layers with our two settings on top (CONTAINERS_CONF makes
    podman 4 read only that one file, so the system's settings are carried over)."""
    files = list(SYSTEM_CONFS)
    if os.getuid() != 0:
        xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        files.append(os.path.join(xdg, "containers", "containers.conf"))
    data: dict[str, Any] = {}
    for f in files:
        with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
            _merge(data, tomllib.loads(Path(f).read_text()))
    if ulimits:
        data.setdefault("containers", {})["default_ulimits"] = [f"{k}={v}:{v}" for k, v in sorted(ulimits.items())]
    if runtime:
        data.setdefault("engine", {})["runtime"] = runtime
    # exec sessions made through the API (the docker CLI against `podman system service`) keep
    # their conmon alive this long after the process exits (default 300 s, to mimic docker)
    data.setdefault("engine", {})["exit_command_delay"] = 2
    return data


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def write_if_changed(path: Path, text: str) -> None:
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- the engine
@dataclass
class Engine:
    name: str                      # "podman" or "docker"
    binary: str
    env: dict[str, str]            # environment of every engine call
    conf: Path | None = None       # generated containers.conf (podman)
    oci_runtime: str | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    images: set[str] = field(default_factory=set)  # town images known to exist
    _verified: bool = False

    def run(self, *args: str, timeout: float = 60.0, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`<engine> args...`; a non-zero exit raises RpcError(EXTERNAL) with its stderr."""
        try:
            proc = subprocess.run([self.binary, *args], env={**self.env, **(env or {})}, capture_output=True,
                                  timeout=timeout, text=True, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise external(f"{self.name} {args[0]}: timed out after {timeout:.0f} s") from None
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise external(f"{self.name} {' '.join(args[:2])}: {detail[-1] if detail else f'exit {proc.returncode}'}")
        return proc

    def image_exists(self, ref: str) -> bool:
        return self.run("image", "inspect", "--format", "{{.Id}}", ref, check=False).returncode == 0

    def verify(self) -> None:
        """The engine answers (podman: storage and runtime usable; docker: the daemon is reachable)."""
        if self._verified:
            return
        args = ("info", "--format", "{{.Host.OCIRuntime.Name}}") if self.name == "podman" else \
            ("version", "--format", "{{.Server.Version}}")
        proc = self.run(*args, check=False, timeout=30)
        if proc.returncode != 0:
            err = (proc.stderr or proc.stdout).strip().splitlines()
            where = f" (DOCKER_HOST={self.env['DOCKER_HOST']})" if self.env.get("DOCKER_HOST") else ""
            raise external(f"{self.name} does not work here{where}: {err[-1] if err else proc.returncode}")
        self.findings.append({"check": "engine answers", "ok": True, "detail": proc.stdout.strip()})
        self._verified = True


_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def detect(name: str | None = None) -> Engine:
    """The engine called `name` ('podman'/'docker'), or the first installed one (podman first).
    Raises RpcError(EXTERNAL) with how to get one when it is missing."""
    with _lock:
        for candidate in ([name] if name else ENGINES):
            if candidate not in ENGINES:
                raise RpcError(ErrorCode.INVALID_PARAMS, f"unknown container engine '{candidate}' (podman or docker)")
            if candidate in _engines:
                return _engines[candidate]
            binary = shutil.which(candidate)
            if binary:
                _engines[candidate] = eng = _make(candidate, binary)
                return eng
        missing = f"{name} not found" if name else "no container engine found"
        raise external(f"{missing}: {INSTALL_HINT}")


def _make(name: str, binary: str) -> Engine:
    env = dict(os.environ)
    eng = Engine(name=name, binary=binary, env=env)
    eng.findings.append({"check": "engine", "ok": True, "detail": f"{name} at {binary}"})
    if name == "podman":
        runtime, why = oci_runtime_choice()
        limits = host_ulimits()
        conf = cache_dir() / f"containers-{os.getuid()}.conf"
        write_if_changed(conf, tomli_w.dumps(containers_conf(runtime, limits)))
        env["CONTAINERS_CONF"] = str(conf)
        eng.conf, eng.oci_runtime = conf, runtime
        eng.findings += [
            {"check": "oci runtime", "ok": runtime is not None or cgroup_mode() == "v2",
             "detail": f"{runtime or 'default'}: {why}"},
            {"check": "ulimits", "ok": True,
             "detail": ", ".join(f"{k}={v}" for k, v in limits.items()) + " (host hard limits)"},
            {"check": "containers.conf", "ok": True, "detail": f"CONTAINERS_CONF={conf}"},
        ]
    elif env.get("DOCKER_HOST"):
        eng.findings.append({"check": "docker host", "ok": True, "detail": env["DOCKER_HOST"]})
    return eng


def reset() -> None:
    """Forget detected engines (tests change PATH/DOCKER_HOST)."""
    with _lock:
        _engines.clear()


def doctor(name: str | None = None) -> list[dict[str, Any]]:
    """What was detected and why, one dict per finding: {check, ok, detail}."""
    out: list[dict[str, Any]] = []
    for candidate in ([name] if name else ENGINES):
        path = shutil.which(candidate)
        out.append({"check": f"{candidate} binary", "ok": bool(path), "detail": path or "not installed"})
    try:
        eng = detect(name)
        eng.verify()
    except RpcError as exc:
        return [*out, {"check": "engine", "ok": False, "detail": exc.message}]
    out += eng.findings
    out.append({"check": "cgroups", "ok": True, "detail": cgroup_mode()})
    ref = town_image_ref()
    out.append({"check": "town image", "ok": eng.image_exists(ref),
                "detail": f"{ref} ({'present' if eng.image_exists(ref) else 'not built: gt image build'})"})
    return out


# ----------------------------------------------------------------------------- the town image
# (built in gastown.host.image; these names stay here for callers that only know the engine)
def town_image_ref() -> str:
    from gastown.host import image

    return image.town_image_ref()


def ensure_image(eng: Engine, log: Log | None = None) -> str:
    """The current default town image, built when missing."""
    from gastown.host import image

    return image.ensure_image(eng, log=log)


def build_image(eng: Engine, base: str = "auto", base_image: str = BASE_REGISTRY, force: bool = False,
                log: Log | None = None) -> dict[str, Any]:
    from gastown.host import image

    return image.build_image(eng, base=base, base_image=base_image, force=force, log=log)


# ----------------------------------------------------------------------------- the base image
def ensure_base(eng: Engine, base: str, base_image: str, say: Log) -> str:
    if base == "auto":
        for ref in (base_image, BASE_LOCAL):
            if eng.image_exists(ref):
                return ref
        if not base_tarball().exists():
            try:
                return pull_base(eng, base_image, say)
            except RpcError as exc:
                say(f"pull failed ({exc.message}); building the base with debootstrap")
        return debootstrap_base(eng, say)
    if base == "registry":
        return base_image if eng.image_exists(base_image) else pull_base(eng, base_image, say)
    return debootstrap_base(eng, say)


def pull_base(eng: Engine, image: str, say: Log) -> str:
    say(f"pulling {image}")
    eng.run("pull", image, timeout=PULL_TIMEOUT)
    return image


def base_tarball() -> Path:
    return cache_dir() / "images" / f"base-{SUITE}.tar"


def debootstrap_base(eng: Engine, say: Log) -> str:
    """localhost/gastown-base:<suite>, imported from the cached tarball (debootstrapped once)."""
    if eng.image_exists(BASE_LOCAL):
        return BASE_LOCAL
    tar = base_tarball()
    if not tar.exists():
        script = CONTAINER_DIR / "build-base.sh"
        if os.getuid() != 0:
            raise external(f"no base image and debootstrap needs root: run `sudo {script} {tar}` "
                           "or make an image registry reachable")
        say(f"debootstrap {SUITE} into {tar} (about a minute, once per machine)")
        proc = subprocess.run(["bash", str(script), str(tar), SUITE], capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise external(f"build-base.sh failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    say(f"importing {tar} as {BASE_LOCAL}")
    eng.run("import", str(tar), BASE_LOCAL, timeout=600)
    return BASE_LOCAL
