"""A container town does what a local town does: every `gt` command works inside the town
container, the Mayor runs there and slings with `gt sling`, polecats read their mail with
`gt mail inbox`, and gates run inside, in an image that `container.setup` extended.

One town per engine (podman; docker through `podman system service` + DOCKER_HOST), one test
each, covering all of it in one run of the loop: the real opencode CLI as Mayor (driven by
gastown.fakellm on the host, `container.network host`) sends mail to the polecat and slings a
bead for it (after a first bead made that polecat); a scripted polecat reads its inbox, adds code and a test, and is done; the
refinery's pytest gate (pytest installed by the rig's `container.setup`, absent from the base
image) runs in the town container, a scripted review agent approves from inside (`gt review
approve`), and the work lands on the host. Also: the triage agent judges a stuck polecat from
inside the container (`gt triage wait`; its runner's status names the container as its host);
a `container.base` Containerfile builds once and carries gastown; `gt image build` shows its
steps, and nothing with `--quiet`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from gastown import paths
from gastown.host import engine, image
from gastown.daemon.adapters.opencode import OpencodeAdapter
from gastown.daemon.runtime import townimage
from gastown.daemon.runtime.container import ContainerRuntime
from gastown.fakellm import FakeLLM
from tests.conftest import ARITH, make_repo, run_gt
from tests.helpers import gtj, wait_for

HAVE_PODMAN = shutil.which("podman") is not None
pytestmark = [pytest.mark.podman, pytest.mark.slow,
              pytest.mark.skipif(not HAVE_PODMAN, reason="podman is not installed")]

# pytest is not in the base image: the rig's container.setup installs it from Debian's mirror
SETUP = ("apt-get update -q && apt-get install -y -q --no-install-recommends python3-pytest "
         "&& rm -rf /var/lib/apt/lists/*")
GATE = "python3 -m pytest -q -p no:cacheprovider"
POLECAT = ["gt mail inbox > inbox.txt",
           "printf 'def mul(a, b):\\n    return a * b\\n' >> arith.py",
           "printf '\\n\\ndef test_mul():\\n    assert arith.mul(2, 3) == 6\\n' >> test_arith.py"]
TIMEOUT = 240.0


@pytest.fixture(scope="module", autouse=True)
def default_image() -> str:
    """The plain town image (and its base: debootstrap on a clean machine), built before any
    `gt town create` here so that the CLI's build finds it."""
    engine.reset()
    eng = engine.detect("podman")
    eng.verify()
    built = image.build_image(eng)  # bench_container.py prints how long it takes
    return str(built["image"])


def _opencode() -> None:
    try:
        OpencodeAdapter().resolve_binary()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"opencode is not installed: {exc}")


@pytest.fixture
def docker_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """DOCKER_HOST pointing at a `podman system service` (same storage, same image cache)."""
    if shutil.which("docker") is None:
        pytest.skip("docker CLI is not installed")
    podman = engine.detect("podman")
    sock = Path(f"/tmp/gt-psvc-{os.getpid()}-parity.sock")
    service = subprocess.Popen([podman.binary, "system", "service", "--time=0", f"unix://{sock}"],
                               env=podman.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(sock.exists, 15, "podman system service")
        monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
        engine.reset()
        yield
    finally:
        service.terminate()
        service.wait(15)
        sock.unlink(missing_ok=True)
        engine.reset()


def _mayor_steps(rig: str) -> list[dict[str, Any]]:
    script = " ".join(f"--script {json.dumps(s)}" for s in POLECAT)
    return [
        {"shell": "hostname > where.txt && gt mail send toast 'use the test file' -m 'add a test for mul' "
                  f"&& gt sling 'add mul' --rig {rig} {script}"},
        {"say": "Slung 'add mul'."},
    ]


def _run_town(engine_name: str, gt_home: Path) -> None:
    name = f"cp{engine_name[0]}{os.getpid() % 10000}"
    created = run_gt("town", "create", name, "--runtime", engine_name, check=True)
    assert f"runtime {engine_name}" in created.stdout and "image localhost/gastown-town:" in created.stderr
    os.environ["GT_TOWN"] = name
    root = paths.town_dir(name)
    runtime = ContainerRuntime(engine_name, root, town=name)
    repo = make_repo(gt_home / "src" / "app", ARITH)
    try:
        run_gt("rig", "add", "app", str(repo), check=True)
        for key, value in (("container.setup", json.dumps([SETUP])), ("refinery.gates", json.dumps([GATE]))):
            run_gt("config", "set", key, value, "--rig", "app", check=True)
        run_gt("config", "set", "container.network", "host", check=True)  # the mayor reaches the fake model
        # a first bead makes the polecat `toast` (mail goes to existing mailboxes only)
        warm = gtj("sling", "warm up", "--rig", "app", "--script", "echo warm > warm.txt")[0]
        wait_for(lambda: gtj("bead", "show", warm["id"])[0]["status"] == "closed", TIMEOUT, "the first bead merged")
        run_gt("config", "set", "refinery.code_review", "true", "--rig", "app", check=True)
        with FakeLLM({"scripts": {"mayor-model": _mayor_steps("app")}, "default": [{"say": "ok"}]}) as llm:
            for key, value in (("mayor.adapter", "opencode"),
                               ("agent.base_url", f"{llm.url}/v1"), ("agent.api_key", "k"),
                               ("agent.model", "mayor-model")):
                run_gt("config", "set", key, value, check=True)
            t0 = time.monotonic()
            reply = gtj("mayor", "ask", "Please add mul, with a test.")[0]
            assert "Slung 'add mul'" in reply["reply"], reply
            print(f"{engine_name}: mayor ask (image with setup + opencode turn) {time.monotonic() - t0:.1f} s")
        # the mayor ran in the town container and its `gt sling` (a Typer command) worked there
        assert (root / "mayor" / "where.txt").read_text().strip() == runtime.container
        beads = [b for b in gtj("bead", "list") if b["title"] == "add mul"]
        assert len(beads) == 1
        wait_for(lambda: gtj("bead", "show", beads[0]["id"])[0]["status"] == "closed", TIMEOUT,
                 "the mayor's bead merged")
        # the polecat read its mail inside the container with `gt mail inbox`
        inbox = subprocess.run(["git", "-C", str(repo), "show", "main:inbox.txt"], capture_output=True, text=True,
                               check=True).stdout
        assert "use the test file" in inbox and "mayor" in inbox
        # the gate ran inside the town container, whose image has the rig's setup
        mrs = [m for m in gtj("mq", "list") if m["source_bead_id"] == beads[0]["id"]]
        merged = [m for m in mrs if m["merge_commit"]]
        assert len(merged) == 1, mrs
        mr = gtj("mq", "show", merged[0]["bead_id"])[0]
        assert mr["bead_id"] == merged[0]["bead_id"]
        gates = mr["gates"]
        assert [g["ran_in"] for g in gates] == [f"container {runtime.container}"]
        assert gates[0]["exit_code"] == 0 and "2 passed" in gates[0]["output_tail"]
        assert gates[0]["image"] == image.town_image_ref(townimage.spec_for_town(root))
        assert "mul" in (repo / "arith.py").read_text()
        # the review agent approved it from inside the container too (`gt review approve`)
        assert mr["metadata"]["review"]["state"] == "approved"
        reviewer = [a for a in gtj("agent", "list") if a["role"] == "refinery"][0]
        status = json.loads((Path(reviewer["turn_dir"]) / "status.json").read_text())
        assert status["host"] == runtime.container and reviewer["turns"] == 1  # its runner ran in the container
    finally:
        os.environ.pop("GT_TOWN", None)
        run_gt("daemon", "stop")
        runtime.remove()


@pytest.mark.agentcli
@pytest.mark.timeout(900)  # image with setup, two beads, an opencode turn: minutes on a loaded machine
def test_podman_town_mayor_slings_polecat_reads_mail_gate_runs_inside(gt_home: Path) -> None:
    _opencode()
    _run_town("podman", gt_home)


@pytest.mark.agentcli
@pytest.mark.timeout(900)
def test_docker_town_mayor_slings_polecat_reads_mail_gate_runs_inside(gt_home: Path, docker_host: None) -> None:
    _opencode()
    _run_town("docker", gt_home)


def _gt_slow(*args: str) -> subprocess.CompletedProcess[str]:
    """`gt ARGS` with room for an image build on a loaded machine (run_gt allows 120 s)."""
    import sys

    proc = subprocess.run([sys.executable, "-m", "gastown.cli.entry", *args], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_image_build_shows_steps_and_quiet_shows_none() -> None:
    loud = _gt_slow("image", "build", "--force")
    assert "step 1/" in loud.stderr and "building localhost/gastown-town:" in loud.stderr
    steps = [line for line in loud.stderr.splitlines() if "] step " in line]
    assert len(steps) >= 5  # each STEP of the Containerfile, as it happens
    quiet = _gt_slow("image", "build", "--quiet")
    assert quiet.stderr == "" and "gastown-town:" in quiet.stdout


def test_container_base_from_a_containerfile_builds_once_and_carries_gastown(tmp_path: Path) -> None:
    eng = engine.detect("podman")
    cf = tmp_path / "Containerfile"
    cf.write_text(f"FROM {engine.BASE_LOCAL}\nRUN echo {os.getpid()} > /town-base-marker\n")
    spec = image.ImageSpec(base=str(cf), setup=("touch /setup-marker",))
    engine.ensure_base(eng, "auto", engine.BASE_REGISTRY, print)  # the default base the file starts from
    built = image.build_image(eng, spec=spec)
    try:
        assert built["built"] is True and built["base"].startswith(image.USER_BASE + ":")
        assert image.build_image(eng, spec=spec)["built"] is False  # cached by content
        proc = eng.run("run", "--rm", "--network", "none", "--pull=never", built["image"], "sh", "-c",
                       "cat /town-base-marker && test -f /setup-marker && gt sling --help >/dev/null && echo ok")
        assert proc.stdout.split() == [str(os.getpid()), "ok"]
    finally:
        eng.run("rmi", "-f", built["image"], check=False)
        eng.run("rmi", "-f", built["base"], check=False)


@pytest.mark.timeout(600)
def test_triage_agent_judges_a_stuck_polecat_from_inside_the_container(gt_home: Path) -> None:
    name = f"ct{os.getpid() % 10000}"
    run_gt("town", "create", name, "--runtime", "podman", "--quiet", check=True)
    os.environ["GT_TOWN"] = name
    runtime = ContainerRuntime("podman", paths.town_dir(name), town=name)
    try:
        run_gt("rig", "add", "app", str(make_repo(gt_home / "src" / "app", ARITH)), "--no-gate", check=True)
        for key, value in (("patrol.gupp_minutes", "0.03"), ("patrol.triage_agent", "true"),
                           ("patrol.triage_per_hour", "1")):
            run_gt("config", "set", key, value, check=True)
        b = gtj("sling", "stuck", "--rig", "app", "--script", "sleep 120")[0]
        resolved = wait_for(lambda: [e for e in gtj("bead", "events", b["id"]) if e["event_type"] == "triage_resolved"],
                            TIMEOUT, "the triage agent's verdict")
        assert resolved[0]["new_value"] == "wait" and resolved[0]["actor"] == "triage"  # `gt triage wait`
        triage = gtj("agent", "show", "triage")[0]
        status = json.loads((Path(triage["turn_dir"]) / "status.json").read_text())
        assert status["host"] == runtime.container and status["exit_code"] == 0  # its runner ran in the container
        run_gt("agent", "stop", "toast", check=True)
    finally:
        os.environ.pop("GT_TOWN", None)
        run_gt("daemon", "stop")
        runtime.remove()
