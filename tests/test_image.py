"""The town image's inputs, without an engine: gastown's dependency closure and the site/
directory copied from this interpreter (importable on its own, site-packages disabled), the
town's image spec from its config and its rigs' (`container.setup`, `container.base`) and
the tag that changes with every input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from gastown.daemon.runtime import townimage
from gastown.host import engine, image, pysite
from gastown.protocol import ErrorCode, RpcError


def test_closure_is_the_runtime_dependencies_without_dev_extras() -> None:
    names = {pysite._norm(d.metadata["Name"]) for d in pysite.closure(engine.REPO)}
    assert {"typer", "rich", "textual", "apsw", "psutil", "tomli-w", "pyte", "mcp"} <= names
    assert {"markdown-it-py", "pygments", "linkify-it-py", "pydantic"} <= names  # transitive, incl. an extra
    assert not names & {"pytest", "mypy", "pytest-asyncio", "hypothesis", "gastown"}  # dev extras are not
    text = pysite.manifest(engine.REPO)
    assert text.splitlines()[0] == f"python {sys.version_info[0]}.{sys.version_info[1]}"
    assert "typer==" in text


def test_copied_site_imports_every_dependency_without_site_packages(tmp_path: Path) -> None:
    how = pysite.build_site(engine.REPO, tmp_path / "site", pysite.host_python(), tmp_path / "cache")
    assert how.startswith("copied ")
    site = tmp_path / "site"
    assert not list(site.rglob("__pycache__")) and list(site.glob("typer-*.dist-info"))
    code = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; "
            "import typer, rich, textual, apsw, psutil, tomli_w, pyte, mcp, gastown.cli.app; "
            "gastown.cli.app.full_app(); "  # every CLI module, not only the lazy table
            "print(typer.__file__); print(apsw.__file__)")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(site), str(engine.REPO)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert all(line.startswith(str(site)) for line in proc.stdout.splitlines())


def _town(tmp_path: Path, town: dict[str, object], rigs: dict[str, dict[str, object]]) -> Path:
    root = tmp_path / "town"
    root.mkdir()
    (root / "config.toml").write_text(tomli_w.dumps(town))
    for name, cfg in rigs.items():
        (root / "rigs" / name).mkdir(parents=True)
        (root / "rigs" / name / "config.toml").write_text(tomli_w.dumps(cfg))
    return root


def test_spec_merges_town_and_rig_setup_and_the_tag_follows_it(tmp_path: Path) -> None:
    root = _town(tmp_path, {"container": {"setup": ["apt-get install -y jq"], "network": "host"}},
                 {"b": {"container": {"setup": ["pip install b", "apt-get install -y jq"]}},
                  "a": {"container": {"setup": ["pip install a"]}}})
    spec = townimage.spec_for_town(root)
    assert spec.setup == ("apt-get install -y jq", "pip install a", "pip install b")  # rigs by name, once each
    assert spec.base == ""
    plain = image.town_image_ref()
    assert image.town_image_ref(image.ImageSpec()) == plain and image.ImageSpec().flavor() == "default"
    assert image.town_image_ref(spec) != plain and spec.flavor() != "default"
    assert image.town_image_ref(image.ImageSpec(setup=spec.setup)) == image.town_image_ref(spec)


def test_base_containerfile_is_part_of_the_flavor(tmp_path: Path) -> None:
    cf = tmp_path / "Containerfile"
    cf.write_text("FROM localhost/gastown-base:bookworm\n")
    spec = image.ImageSpec(base=str(cf))
    assert spec.base_file() == cf
    first = spec.flavor()
    cf.write_text("FROM localhost/gastown-base:bookworm\nRUN true\n")
    assert spec.flavor() != first  # the file's content, not just its path
    assert image.ImageSpec(base="docker.io/library/python:3.12").base_file() is None
    with pytest.raises(RpcError) as info:
        image.ImageSpec(base=str(tmp_path / "missing")).flavor()
    assert info.value.code == ErrorCode.INVALID_PARAMS and "no such Containerfile" in info.value.message


def test_step_lines_of_both_engines_are_recognised() -> None:
    podman = image.STEP_RE.match("STEP 3/10: RUN apt-get update")
    docker = image.STEP_RE.match("Step 3/10 : RUN apt-get update")
    assert podman and docker
    assert podman.groups() == docker.groups() == ("3", "10", "RUN apt-get update")
    assert image.STEP_RE.match("--> Using cache 1234") is None


def test_wheels_unpack_into_the_site_layout(tmp_path: Path) -> None:
    import zipfile

    whl = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr("demo/__init__.py", "VALUE = 42\n")
        zf.writestr("demo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    site = tmp_path / "site"
    assert pysite.unpack_wheels([whl], site) == 2
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                           "import demo, importlib.metadata as m; print(demo.VALUE, m.version('demo'))", str(site)],
                          capture_output=True, text=True, timeout=30)
    assert proc.stdout.split() == ["42", "1.0"], proc.stderr
