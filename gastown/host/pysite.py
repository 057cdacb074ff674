"""The Python side of the town image: gastown's runtime dependencies, laid out as a directory
(`site/`) that the Containerfile copies to `/opt/gastown/site` (on `PYTHONPATH`).

Why not `pip install` in the image: image builds must work without PyPI (and fast), and the
daemon already runs with exactly the right versions. So, when the image's `python3` has the
same major.minor as the daemon's interpreter (Debian bookworm's 3.11 here), the installed
distributions are copied file by file from the daemon's own site-packages (each one's RECORD,
`.dist-info` included; compiled extensions are ABI-compatible within a minor version). When the
versions differ (a user's base image with another Python), the same pinned versions are
fetched as wheels for the image's Python with `pip download --only-binary` into a machine
cache (`<cache>/wheels/cp3XY`, once) and unpacked: a wheel is a zip laid out for site-packages.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata as md
import platform
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from gastown.protocol import ErrorCode, RpcError

REQ_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?")
EXTRA_RE = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _root_requirements(repo: Path) -> list[str]:
    """gastown's own runtime requirements: the source tree's pyproject when running from one
    (an editable install's metadata goes stale when a dependency is added), else the
    installed distribution's metadata."""
    pyproject = repo / "pyproject.toml"
    if pyproject.is_file():
        reqs = list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])
    else:
        reqs = md.distribution("gastown").requires or []
    return [r for r in reqs if not EXTRA_RE.search(_parse(r)[2])]


def missing(repo: Path) -> list[str]:
    """gastown's direct requirements that are not installed for this interpreter."""
    out = []
    for req in _root_requirements(repo):
        try:
            md.distribution(_parse(req)[0])
        except md.PackageNotFoundError:
            out.append(_parse(req)[0])
    return out


def _parse(req: str) -> tuple[str, set[str], str]:
    """(normalized name, extras asked for, marker text) of one requirement string."""
    m = REQ_RE.match(req)
    if not m:
        return "", set(), ""
    extras = {_norm(e) for e in (m.group(2) or "").strip("[]").split(",") if e.strip()}
    marker = req.split(";", 1)[1] if ";" in req else ""
    return _norm(m.group(1)), extras, marker


def closure(repo: Path) -> list[md.Distribution]:
    """The installed distributions gastown needs at run time (transitively). Requirements
    behind an extra count only when that extra was asked for; platform-conditional ones
    count when installed here (a Windows-only package is simply not installed)."""
    found: dict[str, md.Distribution] = {}
    todo = [(_parse(r)[0], _parse(r)[1]) for r in _root_requirements(repo)]
    while todo:
        name, extras = todo.pop()
        if not name:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        key = _norm(dist.metadata["Name"])
        if key in found and not extras:
            continue
        found[key] = dist
        for req in dist.requires or []:
            sub, sub_extras, marker = _parse(req)
            wanted = EXTRA_RE.findall(marker)
            if wanted and not any(_norm(w) in extras for w in wanted):
                continue
            if sub not in found or sub_extras:
                todo.append((sub, sub_extras))
    return sorted(found.values(), key=lambda d: _norm(d.metadata["Name"]))


@functools.lru_cache(maxsize=4)
def manifest(repo: Path) -> str:
    """`name==version` lines plus the interpreter's minor version: part of the image tag
    (computed once per process: the daemon runs with the dependencies it started with)."""
    lines = [f"python {sys.version_info[0]}.{sys.version_info[1]}"]
    lines += [f"{_norm(d.metadata['Name'])}=={d.version}" for d in closure(repo)]
    return "\n".join(lines)


def manifest_hash(repo: Path) -> str:
    return hashlib.sha256(manifest(repo).encode()).hexdigest()


def host_python() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def copy_installed(repo: Path, dest: Path) -> int:
    """Copy every file of the closure from this interpreter's site-packages; returns files."""
    count = 0
    for dist in closure(repo):
        for rel in dist.files or []:
            parts = Path(str(rel)).parts
            if not parts or parts[0] == ".." or "__pycache__" in parts or str(rel).endswith((".pyc", ".pyo")):
                continue  # scripts in bin/, bytecode (compiled in the image)
            src = Path(str(dist.locate_file(rel)))
            if not src.is_file():
                continue
            target = dest / Path(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
            count += 1
    return count


def download_wheels(repo: Path, python: str, cache: Path) -> list[Path]:
    """The closure's pinned versions as binary wheels for another Python (needs an index)."""
    tag = "cp" + python.replace(".", "")
    out = cache / "wheels" / tag
    out.mkdir(parents=True, exist_ok=True)
    pins = [f"{_norm(d.metadata['Name'])}=={d.version}" for d in closure(repo)]
    machine = platform.machine() or "x86_64"
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "--dest", str(out),
           "--python-version", python, "--implementation", "cp", "--abi", tag, "--abi", "abi3", "--abi", "none",
           "--platform", f"manylinux2014_{machine}", "--platform", f"manylinux_2_28_{machine}",
           "--platform", f"manylinux_2_17_{machine}", "--platform", "any", *pins]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise RpcError(ErrorCode.EXTERNAL, f"the image's python{python} differs from the daemon's "
                       f"{host_python()} and its wheels could not be fetched: {last[0]}")
    return sorted(out.glob("*.whl"))


def unpack_wheels(wheels: list[Path], dest: Path) -> int:
    count = 0
    for whl in wheels:
        with zipfile.ZipFile(whl) as zf:
            zf.extractall(dest)
            count += len(zf.namelist())
    return count


def build_site(repo: Path, dest: Path, image_python: str | None, cache: Path) -> str:
    """Fill `dest` with gastown's dependencies for the image's Python; says how."""
    dest.mkdir(parents=True, exist_ok=True)
    absent = missing(repo)
    if absent:
        raise RpcError(ErrorCode.EXTERNAL, f"gastown's dependencies {', '.join(absent)} are not installed for "
                       f"{sys.executable}: reinstall gastown (`pip install -e .` or `make venv`), then build again")
    if image_python in (None, host_python()):
        n = copy_installed(repo, dest)
        return f"copied {n} files of {len(closure(repo))} packages from the daemon's python{host_python()}"
    assert image_python is not None
    wheels = download_wheels(repo, image_python, cache)
    n = unpack_wheels(wheels, dest)
    return f"unpacked {len(wheels)} wheels for python{image_python} ({n} files)"
