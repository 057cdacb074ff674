"""The town image: a base (registry, debootstrap, or the town's own `container.base`), the
town's `container.setup` commands, gastown's dependencies (`pysite`) and the `gastown` package.

The tag hashes everything that goes in: the Containerfile, every file of the package, the
dependency manifest (name==version, Python minor), the base and the setup commands. So a code
change, a dependency bump or a new setup command means a new tag, and the same inputs reuse
the image (0.05 s). Setup runs in a layer BEFORE the package is copied, so a code change
rebuilds only the last layers (the engine's layer cache keeps the setup layer).

Towns with the same base and setup share an image; a "flavor" label (hash of base and setup)
lets a build prune only older images of its own flavor, never another town's.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gastown.host import engine as engines
from gastown.host import pysite
from gastown.host.engine import Engine, external
from gastown.protocol import ErrorCode, RpcError

TOWN_IMAGE = "localhost/gastown-town"
USER_BASE = "localhost/gastown-userbase"
FLAVOR_LABEL = "io.gastown.flavor"
STEP_RE = re.compile(r"^(?:STEP|Step)\s+(\d+)/(\d+)\s*:\s*(.*)$")
BUILD_TIMEOUT = 1800.0

Log = Callable[[str], None]
Progress = Callable[[dict[str, Any]], None]  # {"phase": text} or {"step": n, "steps": m, "text": ...}


@dataclass(frozen=True)
class ImageSpec:
    """What a town adds to the default image: its own base and its setup commands."""
    base: str = ""                  # "" (default base), an image reference, or a Containerfile path
    setup: tuple[str, ...] = ()     # shell commands run (as root) at image build

    def base_file(self) -> Path | None:
        """The base as a Containerfile on disk, or None when it is an image reference."""
        if not self.base.startswith(("/", "~")):
            return None
        path = Path(self.base).expanduser()
        if not path.is_file():
            raise RpcError(ErrorCode.INVALID_PARAMS, f"container.base {self.base}: no such Containerfile")
        return path

    def flavor(self) -> str:
        h = hashlib.sha256(self.base.encode() + b"\0" + "\0".join(self.setup).encode())
        f = self.base_file()
        if f is not None:
            h.update(f.read_bytes())
        return "default" if not self.base and not self.setup else h.hexdigest()[:10]


# ----------------------------------------------------------------------------- the tag
def containerfile() -> Path:
    path = engines.CONTAINER_DIR / "Containerfile"
    if not path.exists():
        raise external(f"{path} not found: gastown's container/ directory is not installed next to the package")
    return path


def source_files() -> Iterator[Path]:
    for path in sorted(engines.PACKAGE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            yield path


def source_hash(spec: ImageSpec | None = None) -> str:
    """Hash of every input of the image (see the module doc)."""
    spec = spec or ImageSpec()
    h = hashlib.sha256(containerfile().read_bytes())
    for path in source_files():
        h.update(str(path.relative_to(engines.PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(pysite.manifest(engines.REPO).encode() + b"\0")
    h.update(spec.flavor().encode())
    return h.hexdigest()


def town_image_ref(spec: ImageSpec | None = None) -> str:
    return f"{TOWN_IMAGE}:{source_hash(spec)[:12]}"


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """One image build at a time on this machine (towns, tests and `gt image build`)."""
    path = engines.cache_dir() / "image.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ----------------------------------------------------------------------------- building
def ensure_image(eng: Engine, spec: ImageSpec | None = None, log: Log | None = None) -> str:
    """The current image for `spec`, built when missing."""
    ref = town_image_ref(spec)
    if ref in eng.images or eng.image_exists(ref):
        eng.images.add(ref)
        return ref
    return str(build_image(eng, spec=spec, log=log)["image"])


def build_image(eng: Engine, base: str = "auto", base_image: str = engines.BASE_REGISTRY, force: bool = False,
                log: Log | None = None, spec: ImageSpec | None = None,
                progress: Progress | None = None) -> dict[str, Any]:
    """Build the town image. base: 'registry' (pull base_image), 'debootstrap' (from apt's
    mirror, tarball cached) or 'auto' (a base already present, else pull, else debootstrap);
    a spec with its own base overrides it. Returns {image, built, base, seconds, site}."""
    if base not in ("auto", "registry", "debootstrap"):
        raise RpcError(ErrorCode.INVALID_PARAMS, f"unknown base '{base}' (auto, registry or debootstrap)")
    spec = spec or ImageSpec()
    tell = progress or (lambda _e: None)

    def say(msg: str) -> None:
        tell({"phase": msg})
        if log:
            log(msg)

    t0 = time.perf_counter()
    with build_lock():
        ref = town_image_ref(spec)
        if not force and eng.image_exists(ref):
            return {"image": ref, "built": False, "base": None, "seconds": time.perf_counter() - t0, "site": None}
        base_ref = user_base(eng, spec, say) if spec.base else engines.ensure_base(eng, base, base_image, say)
        py = image_python(eng, base_ref)
        with tempfile.TemporaryDirectory(prefix="gt-image-") as tmp:
            ctx = Path(tmp)
            shutil.copy(containerfile(), ctx / "Containerfile")
            shutil.copytree(engines.PACKAGE, ctx / "gastown", ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))
            say("gathering gastown's Python dependencies")
            how = pysite.build_site(engines.REPO, ctx / "site", py, engines.cache_dir())
            say(how)
            say(f"building {ref} from {base_ref}")
            args = ["build", "-t", ref, "--label", f"{FLAVOR_LABEL}={spec.flavor()}",
                    "--build-arg", f"BASE={base_ref}", "--build-arg", f"SETUP={chr(10).join(spec.setup)}",
                    "-f", str(ctx / "Containerfile")]
            if spec.flavor() == "default":
                args += ["-t", f"{TOWN_IMAGE}:latest"]
            if eng.name == "podman":
                args += ["--pull=never"]
            stream_build(eng, [*args, str(ctx)], tell)
        prune_old(eng, ref, spec.flavor())
        eng.images.add(ref)
    return {"image": ref, "built": True, "base": base_ref, "seconds": time.perf_counter() - t0, "site": how}


def stream_build(eng: Engine, args: list[str], tell: Progress) -> None:
    """`<engine> build`, its output read line by line: each STEP n/m is reported; on failure
    the error names the step and its last output line."""
    env = {**eng.env, "DOCKER_BUILDKIT": "0"}  # docker's classic builder resolves a local-only base
    proc = subprocess.Popen([eng.binary, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, errors="replace")
    step, tail = "", list[str]()
    deadline = time.monotonic() + BUILD_TIMEOUT
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.rstrip()
        m = STEP_RE.match(line)
        if m:
            step = line
            tell({"step": int(m.group(1)), "steps": int(m.group(2)), "text": m.group(3)[:120]})
        elif line:
            tail = [*tail[-19:], line]
            tell({"line": line})
        if time.monotonic() > deadline:
            proc.kill()
            break
    code = proc.wait()
    if code != 0:
        last = tail[-1] if tail else f"exit {code}"
        raise external(f"{eng.name} build failed at {step or 'the start'}: {last}")


def image_python(eng: Engine, base_ref: str) -> str | None:
    """major.minor of the base's python3, or None when it has none (the Containerfile then
    installs the distribution's python3; Debian bookworm's is 3.11)."""
    proc = eng.run("run", "--rm", "--network", "none", *(["--pull=never"] if eng.name == "podman" else []),
                   base_ref, "python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])",
                   check=False, timeout=120)
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and re.fullmatch(r"\d+\.\d+", out) else None


def user_base(eng: Engine, spec: ImageSpec, say: Log) -> str:
    """The town's own base: an image reference (pulled when missing) or a Containerfile
    (built once per content, its directory as the context)."""
    path = spec.base_file()
    if path is None:
        if not eng.image_exists(spec.base):
            say(f"pulling {spec.base}")
            eng.run("pull", spec.base, timeout=engines.PULL_TIMEOUT)
        return spec.base
    ref = f"{USER_BASE}:{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"
    if not eng.image_exists(ref):
        say(f"building the town's base {ref} from {path}")
        stream_build(eng, ["build", "-t", ref, "-f", str(path), str(path.parent)], lambda _e: None)
    return ref


KEEP = 3  # newest images kept per flavor: gastown trees side by side do not rebuild each other's


def prune_old(eng: Engine, keep: str, flavor: str) -> None:
    """Remove older town images of the same flavor beyond the newest KEEP (both engines list
    newest first; best effort: one in use stays)."""
    proc = eng.run("image", "ls", "--filter", f"label={FLAVOR_LABEL}={flavor}", "--format",
                   "{{.Repository}}:{{.Tag}}", check=False)
    refs = [r for r in dict.fromkeys(proc.stdout.split())
            if r.startswith(TOWN_IMAGE + ":") and r not in (keep, f"{TOWN_IMAGE}:latest")]
    for ref in refs[KEEP - 1:]:
        eng.run("rmi", ref, check=False)
